"""Bringing a stockray stack up and down: the `stockray` CLI and the embedded local stack."""
