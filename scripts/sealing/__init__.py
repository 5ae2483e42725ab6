"""Sealing secrets for the sealed-secrets controller: the format (``crypto``), the manifest (``manifest``),
where values come from (``inputs``), the kubeseal binary when present (``kubeseal``) and the repository's own
placeholder secrets (``placeholders``). ``scripts/seal.py`` is the command line.
"""
