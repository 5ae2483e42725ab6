"""The model-serving app. Layers, bottom to top; a module imports only from its own layer or below:

- ``config``      the settings, read from the environment and validated at start-up;
- ``telemetry``   logging, Prometheus metrics, Slack alerts;
- ``repository``  the model repository: registry lookups, loading, smoke test, the served set, hot swap;
- ``inference``   the data plane's decisions: which variant serves a request, its input, the prediction;
- ``api``         HTTP: the application factory, middleware, error bodies and the routes.
"""

__version__ = "1.0.0"
