"""``make validate``: render every chart x environment with real Helm and check the whole repository.

The command over ``tooling.checks``. Findings are printed one per line as ``file: object: rule-id: reason``;
see ``python -m tooling.validate -h``.
"""
