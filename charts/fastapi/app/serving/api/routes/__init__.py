"""The routers, one module per concern (predict, reload, status)."""
