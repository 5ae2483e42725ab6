"""``make bench``: our serving app vs ``mlflow models serve``, MLServer and a bare FastAPI floor; sweeps of
rows and connections, the prediction log on and off, ``/livez`` under load, hot swap under load.

``cli`` (arguments, profiles, the run, the document), ``scenario`` (what is measured in which order),
``load`` (wrk runs and the first request), ``bodies`` (N rows in each protocol), ``servers`` (the servers
compared with ours), ``probe`` (the ``/livez`` prober), ``procstat`` (CPU and peak memory from ``/proc``),
``machine`` (where it ran), ``wrk`` (the command and its summary), ``report`` (arithmetic, tables,
document), ``plot`` (the PNG), ``floor_app`` and ``post.lua`` (the floor server and wrk's script).
"""
