"""Ray Job entrypoints, each run as `python -m jobs.NAME`."""
