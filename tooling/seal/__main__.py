"""``python -m tooling.seal``: see ``tooling.seal.cli``."""

import sys

from tooling.seal.cli import main

sys.exit(main())
