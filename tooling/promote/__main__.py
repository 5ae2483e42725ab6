"""``python -m tooling.promote``: see ``tooling.promote.cli``."""

import sys

from tooling.promote.cli import main

sys.exit(main())
