"""`python -m netscale ...` (and `torchrun -m netscale ...`) runs the CLI."""

import sys

from netscale.cli.main import main

sys.exit(main())
