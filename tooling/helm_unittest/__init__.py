"""A runner for helm-unittest suites faithful to the plugin (v1.1.0),
rendering with the real ``helm template``."""
