"""Suite-wide: measured device peaks go to a temporary cache, never the user's."""

import pytest


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """NETSCALE_CACHE for this test session (subprocesses inherit it)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("NETSCALE_CACHE", str(tmp_path_factory.mktemp("netscale-cache")))
    yield
    mp.undo()
