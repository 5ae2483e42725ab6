"""``python -m tooling.applications``: see ``tooling.applications.cli``."""

import sys

from tooling.applications.cli import main

sys.exit(main())
