"""The training pipeline's work, as plain functions that import and run without Airflow.

The DAG file beside this package only wires these functions into tasks; ``make demo`` and the tests
call them directly too.
"""
