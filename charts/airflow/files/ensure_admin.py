"""Make the FAB auth manager's admin user match its Secret: create it, or reset its password and role.

Run by the db-migrate Job after ``airflow db migrate`` (the chart passes this file to ``python -c``, so the
command line shows this code and never a value). The password comes from ``AIRFLOW_ADMIN_PASSWORD`` (a
secretKeyRef, never an argument: arguments are visible in /proc and ``ps``); re-sealing the Secret and syncing
rotates it. Idempotent: a user already as the Secret says is left untouched. One line of output, without the
password; exit 1 with one line when the input is unusable.
"""

import os
import sys

from werkzeug.security import check_password_hash

ROLE = "Admin"
MIN_PASSWORD_LENGTH = 12


def main() -> int:
    username = os.environ.get("AIRFLOW_ADMIN_USERNAME", "").strip()
    password = os.environ.get("AIRFLOW_ADMIN_PASSWORD", "")
    email = os.environ.get("AIRFLOW_ADMIN_EMAIL", "").strip()
    if not username or not email:
        print("admin user: AIRFLOW_ADMIN_USERNAME and AIRFLOW_ADMIN_EMAIL must be set", file=sys.stderr)
        return 1
    if len(password.strip()) < MIN_PASSWORD_LENGTH or password != password.strip():
        print(
            f"admin user: the password in AIRFLOW_ADMIN_PASSWORD must have at least {MIN_PASSWORD_LENGTH} "
            "characters and no surrounding whitespace (a sealed trailing newline would be part of it)",
            file=sys.stderr,
        )
        return 1

    from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder

    with get_application_builder() as appbuilder:
        security = appbuilder.sm
        role = security.find_role(ROLE)
        if role is None:
            print(f"admin user: role {ROLE} missing: was `airflow db migrate` run?", file=sys.stderr)
            return 1
        user = security.find_user(username=username)
        if user is None:
            if not security.add_user(username, "Airflow", "Admin", email, role, password):
                print(f"admin user: creating {username!r} failed", file=sys.stderr)
                return 1
            print(f"admin user: {username!r} created with role {ROLE}")
            return 0
        changed = []
        if not check_password_hash(user.password, password):
            security.reset_password(user.id, password)
            changed.append("password reset to the Secret's")
        if role not in user.roles or not user.active:
            user.roles, user.active = [role], True
            security.update_user(user)
            changed.append(f"role {ROLE}, active")
        done = "; ".join(changed) if changed else "already as the Secret says"
        print(f"admin user: {username!r} {done}")
        return 0


if __name__ == "__main__":
    sys.exit(main())
