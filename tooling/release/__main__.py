"""``python -m tooling.release``: see ``tooling.release.cli``."""

import sys

from tooling.release.cli import main

sys.exit(main())
