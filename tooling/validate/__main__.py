"""``python -m tooling.validate``: see ``tooling.validate.cli``."""

import sys

from tooling.validate.cli import main

sys.exit(main())
