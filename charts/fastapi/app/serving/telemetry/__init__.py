"""Logging, Prometheus metrics and Slack alerts: what the process tells the outside world."""
