"""``make bench``: our serving app vs ``mlflow models serve`` and a bare FastAPI floor; hot swap under load.

``cli`` (arguments, the run, the document), ``scenario`` (what is measured in which order), ``load`` (wrk runs
and the first request), ``servers`` (the servers compared with ours), ``procstat`` (CPU from ``/proc``),
``machine`` (where it ran), ``wrk`` (the command and its summary), ``report`` (arithmetic, table, document),
``floor_app`` and ``post.lua`` (the floor server and wrk's script).
"""
