"""Sealing through the ``kubeseal`` binary when it is installed (the reference implementation).

The Secret goes to kubeseal on stdin; nothing plain is written to disk or put on its command line.
"""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path
from typing import Any

import yaml

from tooling.infra.proc import last_line, run
from tooling.seal.crypto import Scope, SealingError


def binary() -> str | None:
    return shutil.which("kubeseal")


def seal_with_kubeseal(
    kubeseal: str, certificate: Path, name: str, namespace: str, scope: Scope, values: dict[str, str]
) -> dict[str, str]:
    """The encryptedData kubeseal produces for ``values``."""
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": name, "namespace": namespace},
        "data": {key: base64.b64encode(value.encode()).decode() for key, value in values.items()},
    }
    result = run(
        [kubeseal, "--cert", str(certificate), "--scope", scope.value, "--format", "yaml"],
        stdin=json.dumps(secret),
    )
    if result.returncode != 0:
        # kubeseal's own errors name files and flags, not values.
        raise SealingError(f"kubeseal failed: {last_line(result.stderr)}")
    sealed: dict[str, Any] = yaml.safe_load(result.stdout)
    encrypted: dict[str, str] = sealed["spec"]["encryptedData"]
    return encrypted
