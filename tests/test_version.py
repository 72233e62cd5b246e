"""netscale's version: one definition, read by the package, its metadata and run records."""

import ast
import tomllib
from pathlib import Path

from packaging.version import Version

import netscale
from netscale import version

ROOT = Path(__file__).resolve().parents[1]


def test_version_is_a_release_number():
    parsed = Version(version.__version__)  # PEP 440, or InvalidVersion
    assert str(parsed) == version.__version__  # in its normal form, as pip would show it
    assert len(parsed.release) == 3


def test_package_exports_the_same_object():
    assert netscale.__version__ is version.__version__
    assert "__version__" in netscale.__all__


def test_packaging_reads_the_version_from_this_module():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "netscale.version.__version__"
    }


def test_version_module_is_the_bottom_layer():
    """It imports nothing, so every layer (run directories, the facade) may read it."""
    tree = ast.parse(Path(version.__file__).read_text())
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
    assert [n.id for n in ast.walk(tree) if isinstance(n, ast.Name)] == ["__version__"]
