"""The run's one source of randomness: a reproducible PRNG (same seed, same draws), for schedules and test data
only, never for anything secret; ruff's S311 rightly flags the stdlib constructor wherever secrets could be."""

from __future__ import annotations

import random


class Seeded(random.Random):
    """random.Random under a name that says what it is for: a seeded, reproducible stream of draws."""
