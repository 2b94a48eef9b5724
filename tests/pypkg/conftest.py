"""pytest configuration of tests/pypkg: every test_*.py file runs against the built library (pkgtest.py);
check_wheel.py installs its own and is left alone."""

import pytest


@pytest.fixture(scope="module", autouse=True)
def _library(request):
    if not request.module.__name__.startswith("test_"):
        return None
    import pkgtest
    return pkgtest.load_library()
