"""``python -m tooling.bench``: see ``tooling.bench.cli``."""

import sys

from tooling.bench.cli import main

sys.exit(main())
