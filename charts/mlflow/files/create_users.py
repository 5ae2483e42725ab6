"""Create the platform's MLflow users through the basic-auth REST API as the admin; idempotent.

Run by the chart's post-sync Job (python from the MLflow image, standard library only). Each user in
PLATFORM_USERS (space-separated prefixes, e.g. "READER WRITER") comes from <PREFIX>_USERNAME and
<PREFIX>_PASSWORD; an existing user gets its password set to the Secret's, so a resealed password takes effect
on the next sync. Nothing secret is printed: one line per user, the exit code says whether all succeeded.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
import urllib.error
import urllib.request

CREATE = "/api/2.0/mlflow/users/create"
SET_SECRET = "/api/2.0/mlflow/users/update-password"  # noqa: S105 (a route, not a secret)


def call(url: str, method: str, path: str, admin: tuple[str, str], body: dict[str, str]) -> tuple[int, str]:
    token = base64.b64encode(f"{admin[0]}:{admin[1]}".encode()).decode()
    request = urllib.request.Request(  # noqa: S310 (main() accepts http(s) URLs only)
        url + path,
        data=json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Basic {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def wait_until_up(url: str, attempts: int) -> None:
    for _ in range(attempts):
        try:
            with urllib.request.urlopen(url + "/health", timeout=5):  # noqa: S310
                return
        except OSError:
            time.sleep(5)
    raise SystemExit(f"create-users: MLflow at {url} did not answer /health")


def ensure_user(url: str, admin: tuple[str, str], username: str, password: str) -> str:
    body = {"username": username, "password": password}
    status, text = call(url, "POST", CREATE, admin, body)
    if status == 200:
        return "created"
    if status == 400 and "RESOURCE_ALREADY_EXISTS" in text:
        status, _ = call(url, "PATCH", SET_SECRET, admin, body)
        if status == 200:
            return "exists, password set from its Secret"
    if status == 401:
        raise SystemExit("create-users: MLflow refused the admin credentials (401): check the auth Secret")
    raise SystemExit(f"create-users: user {username}: HTTP {status}")


def main() -> int:
    env = os.environ
    url = env["MLFLOW_URL"].rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise SystemExit("create-users: MLFLOW_URL must be an http(s) URL")
    admin = (env["MLFLOW_AUTH_ADMIN_USERNAME"], env["MLFLOW_AUTH_ADMIN_PASSWORD"])
    wait_until_up(url, int(env.get("WAIT_ATTEMPTS", "60")))
    for prefix in env["PLATFORM_USERS"].split():
        username, password = env[f"{prefix}_USERNAME"], env[f"{prefix}_PASSWORD"]
        if not username or not password:
            raise SystemExit(f"create-users: {prefix}_USERNAME and {prefix}_PASSWORD must not be empty")
        print(f"create-users: {username}: {ensure_user(url, admin, username, password)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
