"""``make demo``: the whole loop on this machine, with real servers on loopback and no Kubernetes."""
