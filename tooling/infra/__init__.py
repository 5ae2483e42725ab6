"""Layer 1, plumbing: processes, Helm, Kubernetes schemas, the repository model, ApplicationSets, the local
stack and registry seeding. Imports only ``tooling.model``.
"""
