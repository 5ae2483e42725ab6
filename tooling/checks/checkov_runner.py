"""Run checkov's Kubernetes checks over a folder and print the failures as JSON lines.

Executed by the checkov environment's interpreter (``.venv-checkov``: its pins conflict with mlflow's), with
the same filter as ``checkov --framework kubernetes --skip-download --skip-check ...``. It imports checkov
first (most of its run time) and only then reads its request from stdin, one JSON line
``{"folder": ..., "skip_checks": [...]}``, so the caller can start it before the manifests exist.
Calling the runner directly also skips the CLI's start-up (every framework's imports).
"""

from __future__ import annotations

import json
import sys


def main() -> int:
    from checkov.kubernetes.runner import Runner
    from checkov.runner_filter import RunnerFilter

    line = sys.stdin.readline()
    if not line.strip():
        return 0  # the caller needed no scan after all
    request = json.loads(line)
    runner_filter = RunnerFilter(
        framework=["kubernetes"], skip_checks=request["skip_checks"], download_external_modules=False
    )
    report = Runner().run(root_folder=request["folder"], runner_filter=runner_filter)
    for failed in report.failed_checks:
        record = {"check_id": failed.check_id, "check_name": failed.check_name, "file_path": failed.file_path}
        print(json.dumps(record | {"resource": failed.resource}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
