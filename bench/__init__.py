"""Benchmarks, each measured side by side against a peer: `python -m bench.NAME`."""
