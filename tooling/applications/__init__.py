"""``make applications``: the Applications the repository's ApplicationSets generate, as Argo CD would."""
