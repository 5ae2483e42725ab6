"""The training pipeline's work, as plain functions that import and run without Airflow.

The DAG file beside this package only wires these functions into tasks; ``make demo`` and the tests
call them directly too.

Importing the package sets the pipeline's one logging rule: httpx logs every request's full URL at INFO
(httpcore its connections at DEBUG), and a Slack webhook's URL is its secret, so both log warnings only,
whoever configured logging (Airflow's task runner already quiets httpx, the release CLI and tests do not).
"""

import logging

for _http_client in ("httpx", "httpcore"):
    logging.getLogger(_http_client).setLevel(logging.WARNING)
