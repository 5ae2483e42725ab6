"""The routers, one module per concern (predict, release, reload, status)."""
