"""pytest configuration: one random seed per session, printed in the header and on failure.

Replay a session with MOEROUTE_TEST_SEED=<seed>. MOEROUTE_TEST_SCALE=<float> multiplies the number of
randomized cases (default 1). MOEROUTE_LIB must point at libmoeroute.so for the library tests.
"""

import os
import sys

import pytest

from moe_testenv import SEED, case_scale


def pytest_report_header(config):
    lib = os.environ.get("MOEROUTE_LIB") or "(MOEROUTE_LIB unset: library tests are skipped)"
    return ["moeroute test seed: %d (replay with MOEROUTE_TEST_SEED=%d), case scale %g" % (SEED, SEED, case_scale()),
            "moeroute library: %s" % lib]


@pytest.fixture(scope="session")
def seed():
    return SEED


@pytest.fixture(scope="session")
def lib():
    import moeroute_ctypes
    if not os.environ.get("MOEROUTE_LIB"):
        pytest.skip("MOEROUTE_LIB is not set")
    return moeroute_ctypes.load()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        rep.sections.append(("moeroute seed", "MOEROUTE_TEST_SEED=%d (test %s)" % (SEED, item.nodeid)))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if exitstatus != 0:
        terminalreporter.write_line("moeroute: failures with seed %d; replay with MOEROUTE_TEST_SEED=%d"
                                    % (SEED, SEED))
    sys.stderr.flush()
