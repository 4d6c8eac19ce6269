"""What the local worker pool's fork server loads once, for every worker it forks.

Imported by the fork server (Linux, macOS) before it forks any worker: the stage
code with the libraries under it, and the campaign's read-only data (known
crystals with their descriptors, the template sources, the reference hull) and the
potentials' libraries, so the
workers share those pages copy-on-write instead of each loading a copy. Nothing
here runs torch: models and the potential load in each worker, as before. A
failure here only costs the sharing; the workers then load what they need.
"""

from __future__ import annotations

import gc
import logging
import os

from gendesign.notices import quiet_third_party

quiet_third_party()  # before the imports below, which warn

from gendesign.campaign import checks, generate, prescreen, relaxing, screen  # noqa: E402, F401
from gendesign.campaign.workers import PRELOAD_ENV  # noqa: E402
from relax.potentials import preload_libraries  # noqa: E402

preload_libraries()

if os.environ.get(PRELOAD_ENV):
    try:
        from gendesign.campaign import resources
        from gendesign.campaign.config import CampaignConfig

        resources.preload(CampaignConfig.model_validate_json(os.environ[PRELOAD_ENV]))
    except Exception as err:  # the workers load it themselves
        logging.getLogger(__name__).debug("worker preload skipped: %s", err)

# What is loaded so far lives as long as the workers: GC never needs to visit it, and a
# collection in a worker would otherwise write to (and so copy) every page it sits on.
gc.collect()
gc.freeze()
