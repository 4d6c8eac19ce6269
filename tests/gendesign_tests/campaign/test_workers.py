"""A worker hands a finished batch's memory back to the system."""

import psutil
import torch

from gendesign.campaign.workers import run_task

MB = 2**20


def _batch_that_fragments_the_heap() -> int:
    """Many mid-sized tensors, half of them freed early, as a relaxation batch leaves them."""
    tensors = [torch.ones(4096, dtype=torch.float64) for _ in range(20_000)]  # 640 MB
    del tensors[::2]
    return len(tensors)


def test_a_task_leaves_no_batch_memory_behind():
    process = psutil.Process()
    before = process.memory_info().rss
    assert run_task(_batch_that_fragments_the_heap) == 10_000
    # glibc keeps freed mid-sized blocks for reuse unless trimmed: ~640 MB would stay
    assert process.memory_info().rss - before < 100 * MB
