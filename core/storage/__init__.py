"""Postgres schema, migrations and repositories; the Parquet lake."""
