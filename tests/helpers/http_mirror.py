"""A mirror served over HTTP the way a site without a network serves one:
``python -m http.server`` over a temporary copy of the shared layout (``data/``,
``models/``), holding only the files a test names."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gendesign.data.fetching import locate


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def copy_layout(folder: Path, files: dict[str, list[str]]) -> Path:
    """Copy ``files`` ({"data": [relative paths], "models": [...]}) from wherever this
    machine has them (a local mirror, else the cache, else fetched) into ``folder/data``
    and ``folder/models``; returns ``folder``."""
    for root, paths in files.items():
        for relative in paths:
            target = folder / root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(locate(root, relative), target)
    return folder


@contextmanager
def http_server(folder: Path) -> Iterator[str]:
    """Serve ``folder`` on a free local port; yields its base URL."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):  # until it answers
            try:
                urllib.request.urlopen(url, timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)
