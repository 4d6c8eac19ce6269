"""Options several commands share, defined once."""

from __future__ import annotations

DATA_ROOT_HELP = (
    "Data mirror: a folder or an http(s) URL with the data layout (default: $GENDESIGN_DATA, "
    "then ../shared/data beside the checkout; what none holds is fetched into the cache)."
)
MODELS_ROOT_HELP = (
    "Models mirror: a folder or an http(s) URL (default: $GENDESIGN_MODELS, then "
    "../shared/models beside the checkout)."
)
