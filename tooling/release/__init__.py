"""Release a model version to the serving fleet, roll back, show the state: ``make release``."""
