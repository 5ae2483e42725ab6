"""Layer 2, the validator as a library: ``engine.validate()`` renders every chart x environment and runs every
check (Kubernetes and CRD schemas, the repository's rules by subject in ``rules/``, and the external tools
yamllint, hadolint, actionlint and checkov), returning ``Finding``s. Imports ``tooling.infra`` and
``tooling.model`` only.
"""
