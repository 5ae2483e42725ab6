"""``make seal``: sealing secrets for the sealed-secrets controller, the command and its library.

The format (``crypto``), the manifest (``manifest``), where values come from (``inputs``), the kubeseal binary
when present (``kubeseal``), writing into the repository (``store``) and the repository's own placeholder
secrets (``placeholders``). ``python -m tooling.seal`` is the command line (``cli``).
"""
