"""netscale's version: one definition, at the bottom of the layers (run directories and
`netscale.__version__` both read it)."""

__version__ = "0.1.0"
