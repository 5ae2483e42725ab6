"""The repository's tooling, one package in layers whose imports only point down.

0. ``tooling.model``: the platform model (components, environments, names, namespaces, paths).
1. ``tooling.infra``: plumbing (processes, Helm, schemas, the repository model, ApplicationSets, the local
   stack, registry seeding).
2. ``tooling.checks``: the validator as a library (engine, findings, external tools, rules by subject).
3. The commands, each a sub-package run as ``python -m tooling.<command>``: ``validate``, ``seal``,
   ``promote``, ``applications``, ``demo``, ``bench``, ``helm_unittest``. A command never imports another
   command.

``tests/test_architecture.py`` fails when an import points up a layer or across commands.

The serving app's folder and the DAGs folder are put on ``sys.path`` here, once, so the app's settings and
the pipeline's ``mlpipeline`` import as the first-party packages they are (as in their images).
"""

from __future__ import annotations

import sys

from tooling.model.paths import APP_DIR, DAGS_DIR

for _folder in (str(APP_DIR), str(DAGS_DIR)):
    if _folder not in sys.path:
        sys.path.append(_folder)
