"""The model repository: resolve an alias, load and smoke-test a version, and swap the served set."""
