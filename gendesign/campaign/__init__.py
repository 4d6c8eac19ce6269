"""Batch discovery campaigns: generate (per source) → audit → pre-screen → screen → relax →
re-audit → rank → report.

``run_campaign(CampaignConfig)`` runs or resumes one; each stage is a function over a
batch of candidates (``generate_batch``, ``audit_batch``, ``prescreen_batch``,
``screen_batch``, ``relax_batch``, ``reaudit_batch``) that can also be called on its own.
"""

from gendesign.campaign.config import CampaignConfig
from gendesign.campaign.pipeline import run_campaign

__all__ = ["CampaignConfig", "run_campaign"]
