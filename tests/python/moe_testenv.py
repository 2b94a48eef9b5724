"""Session-wide test settings shared by conftest.py and the test modules.

MOEROUTE_TEST_SEED  replay a session's seed (decimal or 0x hex); unset = a fresh random seed
MOEROUTE_TEST_SCALE multiply the number of randomized cases (default 1)
"""

import os
import random


def _session_seed():
    env = os.environ.get("MOEROUTE_TEST_SEED")
    if env:
        return int(env, 0)
    return random.SystemRandom().randrange(1, 2 ** 32)


SEED = _session_seed()


def case_scale():
    try:
        return max(0.0, float(os.environ.get("MOEROUTE_TEST_SCALE", "1")))
    except ValueError:
        return 1.0


def pick(rng, items, p=None):
    """One of items, drawn by a numpy Generator (p: the probabilities, as for rng.choice)."""
    return items[int(rng.choice(len(items), p=p))]
