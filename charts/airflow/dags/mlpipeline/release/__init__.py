"""Fleet-wide releases of model versions: the release state in the registry, canary analysis, rollback.

Airflow-free: the DAG and ``tooling/release`` both call :class:`ReleaseController`.
"""
