"""``python -m tooling.helm_unittest``: see cli.py."""

from tooling.helm_unittest.cli import main

raise SystemExit(main())
