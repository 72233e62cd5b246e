"""Suite-wide: measured device peaks go to a temporary cache, never the user's; the
airbench94-shaped example spec (tests/fixtures/airbench94.yaml)."""

from pathlib import Path

import pytest

AIRBENCH94 = Path(__file__).parent / "fixtures" / "airbench94.yaml"


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """NETSCALE_CACHE for this test session (subprocesses inherit it)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("NETSCALE_CACHE", str(tmp_path_factory.mktemp("netscale-cache")))
    yield
    mp.undo()


@pytest.fixture
def airbench94():
    """The airbench94-shaped spec: whitening stem (24 channels, 2x2), conv_pool stages of
    64, 256, 256 at stride 2, GELU, max-pool head with logits x 1/9, 10 classes, 32 px."""
    from netscale.spec import load

    return load(AIRBENCH94)
