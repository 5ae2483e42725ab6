"""The pieces of ``make bench``: the wrk driver and its Lua script, the floor app, the report."""
