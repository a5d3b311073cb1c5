"""Ray-free domain of stockray: models, typed errors, provider clients, storage, analysis."""
