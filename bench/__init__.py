"""Benchmarks, each measured side by side against a peer: `python -m bench.NAME`."""

import os

# Ray reads its auth mode when first imported; the clusters benchmarks start use tokens.
os.environ.setdefault("RAY_AUTH_MODE", "token")
