"""Hypothesis profiles: a modest fixed budget, derandomized so every run checks the same examples.

HYPOTHESIS_PROFILE=explore draws many more examples with a fresh seed each time (a bug hunt, not part of make test).
No example database is written (the working tree is shared).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = {"deadline": None, "database": None,
           "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}
settings.register_profile("default", max_examples=150, derandomize=True, print_blob=True, **_COMMON)
settings.register_profile("explore", max_examples=2000, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
