"""``python -m tooling.demo``: see ``tooling.demo.cli``."""

import sys

from tooling.demo.cli import main

sys.exit(main())
