"""Create the platform's MLflow users as the admin (basic-auth REST API) and set who may create; idempotent.

Run by the chart's post-sync Job (python from the MLflow image, standard library only). Each user in
PLATFORM_USERS (space-separated prefixes, e.g. "READER WRITER") comes from <PREFIX>_USERNAME and
<PREFIX>_PASSWORD; an existing user gets its password set to the Secret's, so a resealed password takes effect
on the next sync.

Who may create: the server runs with workspaces on (`--enable-workspaces`, everything in MLflow's `default`
workspace) and `grant_default_workspace_access = true`, so a user without a workspace grant holds
`default_permission` (READ) on everything there, and READ cannot create an experiment, a registered model or
any other resource. The users in CREATOR_USERS (prefixes, e.g. "WRITER") get the role `platform-creators`
(USE on the default workspace: they may create, and own with MANAGE what they create). Every other platform
user is made read-only: it leaves that role and every other role that grants more than READ, its own grants
above READ are revoked, and a registered model or prompt it owned (created before creation was gated, possibly
the very name an app serves) is handed to the first creator with MANAGE.

Nothing secret is printed: one line per user and per change, the exit code says whether all succeeded.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

CREATE = "/api/2.0/mlflow/users/create"
SET_SECRET = "/api/2.0/mlflow/users/update-password"  # noqa: S105 (a route, not a secret)
ROLES = "/api/3.0/mlflow/roles"
USER_ROLES = "/api/3.0/mlflow/users/roles/list"
USER_GRANTS = "/api/3.0/mlflow/users/permissions"

WORKSPACE = "default"
"""MLflow's default workspace: where a request without a workspace header goes, so every platform resource."""
CREATOR_ROLE = "platform-creators"
CREATOR_GRANT = {"resource_type": "workspace", "resource_pattern": "*", "permission": "USE"}
"""USE on the workspace: create experiments and registered models (the creator then owns them with MANAGE);
MANAGE here would make a workspace admin."""
READ_ONLY = ("READ", "DENY")
"""The levels a read-only user may hold: READ, and DENY (less)."""
SYNTHETIC_ROLE_PREFIX = "__user_"
"""MLflow's name for the role that holds one user's own grants (``__user_<id>__``), reserved by MLflow."""
HANDED_OVER = ("registered_model", "prompt")
"""Grant types whose per-name grants move to the writer: registry names, which the pipeline registers into."""


class Admin:
    """The MLflow admin's REST calls; an answer other than 200 ends the run with its status and error code."""

    def __init__(self, url: str, username: str, password: str) -> None:
        self.url = url
        self._token = base64.b64encode(f"{username}:{password}".encode()).decode()

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, str]:
        url, data = self.url + path, None
        if method == "GET":
            url += "?" + urllib.parse.urlencode(body or {})
        else:
            data = json.dumps(body or {}).encode()
        request = urllib.request.Request(  # noqa: S310 (main() accepts http(s) URLs only)
            url,
            data=data,
            method=method,
            headers={"Authorization": f"Basic {self._token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                return response.status, response.read().decode(errors="replace")
        except urllib.error.HTTPError as error:
            status = error.code
            text = error.read().decode(errors="replace")
        if status == 401:
            refused = "create-users: MLflow refused the admin credentials (401): check the auth Secret"
            raise SystemExit(refused)
        return status, text

    def json(self, method: str, path: str, what: str, body: dict[str, Any] | None = None) -> Any:
        status, text = self.call(method, path, body)
        if status != 200:
            raise SystemExit(f"create-users: {what}: HTTP {status}{_error_code(text)}")
        return json.loads(text) if text.strip() else {}


def _error_code(text: str) -> str:
    try:
        code = json.loads(text).get("error_code")
    except (ValueError, AttributeError):
        return ""
    return f" {code}" if isinstance(code, str) else ""


def wait_until_up(url: str, attempts: int) -> None:
    for _ in range(attempts):
        try:
            with urllib.request.urlopen(url + "/health", timeout=5):  # noqa: S310
                return
        except OSError:
            time.sleep(5)
    raise SystemExit(f"create-users: MLflow at {url} did not answer /health")


def ensure_user(admin: Admin, username: str, password: str) -> str:
    body = {"username": username, "password": password}
    status, text = admin.call("POST", CREATE, body)
    if status == 200:
        return "created"
    if status == 400 and "RESOURCE_ALREADY_EXISTS" in text:
        status, _ = admin.call("PATCH", SET_SECRET, body)
        if status == 200:
            return "exists, password set from its Secret"
    raise SystemExit(f"create-users: user {username}: HTTP {status}")


def ensure_creator_role(admin: Admin) -> int:
    """The role `platform-creators` in the default workspace, granting exactly USE on it; its id."""
    roles = admin.json("GET", f"{ROLES}/list", "listing the roles", {"workspace": WORKSPACE})["roles"]
    role = next((r for r in roles if r["name"] == CREATOR_ROLE), None)
    if role is None:
        description = "May create experiments and registered models (and owns what it creates): the writer."
        body = {"name": CREATOR_ROLE, "workspace": WORKSPACE, "description": description}
        role = admin.json("POST", f"{ROLES}/create", f"creating role {CREATOR_ROLE}", body)["role"]
        print(f"create-users: role {CREATOR_ROLE}: created", flush=True)
    kept = False
    for grant in role.get("permissions", []):
        same_key = (grant["resource_type"], grant["resource_pattern"]) == ("workspace", "*")
        if same_key and not kept:
            kept = True
            if grant["permission"] != CREATOR_GRANT["permission"]:
                body = {"role_permission_id": grant["id"], "permission": CREATOR_GRANT["permission"]}
                admin.json("PATCH", f"{ROLES}/permissions/update", f"role {CREATOR_ROLE}'s grant", body)
                print(f"create-users: role {CREATOR_ROLE}: {_describe(grant)} set to USE", flush=True)
            continue
        body = {"role_permission_id": grant["id"]}
        admin.json("DELETE", f"{ROLES}/permissions/remove", f"role {CREATOR_ROLE}'s extra grant", body)
        print(f"create-users: role {CREATOR_ROLE}: removed {_describe(grant)}", flush=True)
    if not kept:
        body = {"role_id": role["id"], **CREATOR_GRANT}
        admin.json("POST", f"{ROLES}/permissions/add", f"role {CREATOR_ROLE}'s grant", body)
    return int(role["id"])


def _describe(grant: dict[str, Any]) -> str:
    return f"{grant['permission']} on {grant['resource_type']} {grant['resource_pattern']}"


def user_role_ids(admin: Admin, username: str) -> set[int]:
    roles = admin.json("GET", USER_ROLES, f"roles of {username}", {"username": username})["roles"]
    return {int(role["id"]) for role in roles}


def make_creator(admin: Admin, username: str, role_id: int) -> str:
    if role_id in user_role_ids(admin, username):
        return "may create"
    admin.json("POST", f"{ROLES}/assign", f"assigning {username}", {"username": username, "role_id": role_id})
    return "may create (role assigned)"


def make_read_only(admin: Admin, username: str, owner: str | None) -> str:
    """Leave ``username`` nothing above READ; hand the registry names it owned to ``owner``."""
    grants = admin.json("GET", f"{USER_GRANTS}/list", f"grants of {username}", {"username": username})
    if grants.get("is_admin"):
        raise SystemExit(f"create-users: {username} is an MLflow admin, which no grant can restrict")
    above_read = [grant for grant in grants["permissions"] if grant["permission"] not in READ_ONLY]
    roles = {g["role_id"]: g for g in above_read if not g["role_name"].startswith(SYNTHETIC_ROLE_PREFIX)}
    for role_id, grant in roles.items():
        body = {"username": username, "role_id": role_id}
        admin.json("DELETE", f"{ROLES}/unassign", f"{username} leaving role {grant['role_name']}", body)
        print(f"create-users: {username}: left role {grant['role_name']} ({_describe(grant)})", flush=True)
    own = [grant for grant in above_read if grant["role_name"].startswith(SYNTHETIC_ROLE_PREFIX)]
    for grant in own:
        if grant["resource_type"] == "workspace" or grant["workspace"] != WORKSPACE:  # no per-user API for it
            where = f"{_describe(grant)} in workspace {grant['workspace']}"
            raise SystemExit(f"create-users: {username} holds {where}: remove it as the admin")
        key = {"resource_type": grant["resource_type"], "resource_id": grant["resource_pattern"]}
        body = {"username": username, **key}
        admin.json("POST", f"{USER_GRANTS}/revoke", f"revoking a grant of {username}", body)
        print(f"create-users: {username}: revoked {_describe(grant)}", flush=True)
        if owner and grant["resource_type"] in HANDED_OVER and grant["resource_pattern"] != "*":
            print(f"create-users: {owner}: {hand_over(admin, owner, key)}", flush=True)
    return "read-only" if not above_read else "read-only (held more than READ, now removed)"


def hand_over(admin: Admin, owner: str, key: dict[str, str]) -> str:
    body = {"username": owner, **key, "permission": "MANAGE"}
    what = f"MANAGE on {key['resource_type']} {key['resource_id']}"
    status, text = admin.call("POST", f"{USER_GRANTS}/grant", body)
    if status == 400 and "RESOURCE_ALREADY_EXISTS" in text:  # a lower grant of its own: replace it
        lower = {"username": owner, **key}
        admin.json("POST", f"{USER_GRANTS}/revoke", f"replacing a grant of {owner}", lower)
        status, text = admin.call("POST", f"{USER_GRANTS}/grant", body)
    if status != 200:
        raise SystemExit(f"create-users: granting {owner} {what}: HTTP {status}{_error_code(text)}")
    return f"granted {what} (handed over)"


def main() -> int:
    env = os.environ
    url = env["MLFLOW_URL"].rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise SystemExit("create-users: MLFLOW_URL must be an http(s) URL")
    admin = Admin(url, env["MLFLOW_AUTH_ADMIN_USERNAME"], env["MLFLOW_AUTH_ADMIN_PASSWORD"])
    wait_until_up(url, int(env.get("WAIT_ATTEMPTS", "60")))
    prefixes = env["PLATFORM_USERS"].split()
    creators = env["CREATOR_USERS"].split()
    if unknown := sorted(set(creators) - set(prefixes)):
        raise SystemExit(f"create-users: CREATOR_USERS names {' '.join(unknown)}, not in PLATFORM_USERS")
    usernames = {}
    for prefix in prefixes:
        username, password = env[f"{prefix}_USERNAME"], env[f"{prefix}_PASSWORD"]
        if not username or not password:
            raise SystemExit(f"create-users: {prefix}_USERNAME and {prefix}_PASSWORD must not be empty")
        print(f"create-users: {username}: {ensure_user(admin, username, password)}", flush=True)
        usernames[prefix] = username
    role_id = ensure_creator_role(admin)
    owner = usernames[creators[0]] if creators else None
    for prefix, username in usernames.items():
        if prefix in creators:
            state = make_creator(admin, username, role_id)
        else:
            state = make_read_only(admin, username, owner)
        print(f"create-users: {username}: {state}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
