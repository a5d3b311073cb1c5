"""Ray Data reads the lake as written (hive partitions, dot-files skipped)."""

from __future__ import annotations

from pathlib import Path

from core.storage.lake import Lake
from tests.unit.storage.samples import daily_bars


def test_ray_data_reads_the_bars(ray_cluster, tmp_path: Path) -> None:
    import ray.data
    from ray.data.datasource.partitioning import Partitioning

    lake = Lake(tmp_path / "lake")
    lake.write_bars(daily_bars("AAPL", n=400) + daily_bars("MSFT", n=30))
    lake.write_bars(daily_bars("AAPL", n=10))  # rewrites leave lock files beside the parts
    data = ray.data.read_parquet(str(tmp_path / "lake" / "bars"), partitioning=Partitioning("hive"))
    rows = data.count()
    assert rows == 430
    columns = set(data.schema().names)
    assert {"instrument_id", "ts", "close", "interval", "year"} <= columns
