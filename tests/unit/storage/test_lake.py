"""The Parquet lake: deterministic, idempotent, bucketed, readable, safe under concurrency."""

from __future__ import annotations

import hashlib
import multiprocessing
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow.dataset as ds

from core.storage.lake import BUCKETS, TS, Lake, bucket_of
from tests.unit.storage.samples import article, daily_bars

Y2023 = datetime(2023, 12, 20, 21, tzinfo=UTC)  # 50 days from here cross into 2024


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*.parquet"))
    }


def test_writing_twice_leaves_byte_identical_files(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    bars = daily_bars("AAPL", t0=Y2023) + daily_bars("MSFT", t0=Y2023)
    news = [article("f1", "AAPL"), article("f2", "MSFT", published_at=Y2023)]
    assert lake.write_bars(bars) == 100
    assert lake.write_articles(news) == 2
    first = _digests(tmp_path)
    assert lake.write_bars(bars) == 100
    assert lake.write_articles(news) == 2
    assert _digests(tmp_path) == first
    assert lake.read_bars().num_rows == 100
    assert lake.read_articles().num_rows == 2


def test_same_rows_in_another_order_give_the_same_bytes(tmp_path: Path) -> None:
    bars = daily_bars("AAPL", t0=Y2023) + daily_bars("NVDA", t0=Y2023)
    Lake(tmp_path / "a").write_bars(bars)
    Lake(tmp_path / "b").write_bars(bars[::-1])
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")


def test_rerunning_a_window_with_changed_values_rewrites_it(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    lake.write_bars(daily_bars("AAPL", n=30))
    corrected = [replace(b, close=b.close * 2) for b in daily_bars("AAPL", n=30)[10:20]]
    repeated = [*corrected, replace(corrected[0], close=-1.0)]  # last one wins in a batch
    assert lake.write_bars(repeated) == 10
    table = lake.read_bars(["AAPL"])
    assert table.num_rows == 30
    closes = table.column("close").to_pylist()
    assert closes[10] == -1.0
    assert closes[11:20] == [b.close for b in corrected[1:]]
    assert closes[:10] == [b.close for b in daily_bars("AAPL", n=30)[:10]]


def test_partition_layout_is_interval_year_bucket(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    ids = [f"T{i:03d}" for i in range(40)]
    lake.write_bars([b for i in ids for b in daily_bars(i, n=20, t0=Y2023)])
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.parquet"))
    buckets = sorted({bucket_of(i) for i in ids})
    assert files == [
        f"bars/interval=1d/year={year}/part-{b:02d}.parquet"
        for year in (2023, 2024)
        for b in buckets
    ]
    assert len(buckets) <= BUCKETS < len(ids)
    assert lake.bar_file("1d", 2024, "AAPL").name == f"part-{bucket_of('AAPL'):02d}.parquet"
    assert bucket_of("AAPL") == 12  # crc32: stable across processes and releases
    assert (tmp_path / "articles").exists() is False


def test_readable_with_pyarrow_dataset_and_pandas(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    lake.write_bars(daily_bars("AAPL", t0=Y2023) + daily_bars("MSFT", n=5, t0=Y2023))
    lake.write_articles([article("f1", "AAPL"), article("f2", "AAPL", "MSFT")])
    dataset = ds.dataset(tmp_path / "bars", partitioning="hive")
    table = dataset.to_table()
    assert table.num_rows == 55
    assert table.schema.field("ts").type == TS
    assert sorted(set(table.column("year").to_pylist())) == [2023, 2024]
    frame = pd.read_parquet(tmp_path / "bars")
    assert len(frame) == 55 and str(frame["ts"].dtype) == "datetime64[us, UTC]"
    articles = pd.read_parquet(tmp_path / "articles")
    assert sorted(articles["fingerprint"]) == ["f1", "f2"]
    assert list(articles.set_index("fingerprint").loc["f2", "instrument_ids"]) == ["AAPL", "MSFT"]


def test_reads_filter_by_instrument_and_time(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    lake.write_bars(daily_bars("AAPL", t0=Y2023) + daily_bars("MSFT", t0=Y2023))
    start, end = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 10, tzinfo=UTC)
    table = lake.read_bars(["MSFT"], start=start, end=end)
    assert set(table.column("instrument_id").to_pylist()) == {"MSFT"}
    assert table.num_rows == 9
    assert table.column_names[:3] == ["instrument_id", "interval", "ts"]
    assert lake.read_bars(interval="1h").num_rows == 0
    assert Lake(tmp_path / "empty").read_bars().num_rows == 0
    assert Lake(tmp_path / "empty").read_articles().num_rows == 0


def test_articles_merge_by_fingerprint_and_links_accumulate(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    lake.write_articles([article("f1", "AAPL"), article("f2", "MSFT")])
    assert lake.write_articles([article("f1", "NVDA", title="Apple ships, updated")]) == 1
    table = lake.read_articles()
    rows = {r["fingerprint"]: r for r in table.to_pylist()}
    assert rows["f1"]["title"] == "Apple ships, updated"
    assert rows["f1"]["instrument_ids"] == ["AAPL", "NVDA"]
    day = tmp_path / "articles" / "date=2024-01-02" / "part-00.parquet"
    assert day.exists()


def _write_chunk(root: Path, instrument_id: str, offset: int) -> None:
    bars = daily_bars(instrument_id, n=40, t0=Y2023)[offset : offset + 10]
    Lake(root).write_bars(bars)


def _keys(root: Path) -> set[tuple]:
    table = Lake(root).read_bars()
    keys = list(zip(table["instrument_id"].to_pylist(), table["ts"].to_pylist(), strict=True))
    assert len(keys) == len(set(keys))
    return set(keys)


def _same_bucket(n: int) -> list[str]:
    ids = (f"X{i}" for i in range(10_000))
    target = bucket_of("AAPL")
    return [i for i in ids if bucket_of(i) == target][:n]


def test_concurrent_threads_lose_nothing(tmp_path: Path) -> None:
    ids = _same_bucket(6)  # all in one file per year: every writer contends for the lock
    jobs = [(i, off) for i in ids for off in range(0, 40, 10)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda job: _write_chunk(tmp_path, *job), jobs))
    assert _keys(tmp_path) == {(i, b.ts) for i in ids for b in daily_bars(i, n=40, t0=Y2023)}


def test_concurrent_processes_lose_nothing(tmp_path: Path) -> None:
    ids = _same_bucket(4)
    ctx = multiprocessing.get_context("fork")
    procs = [
        ctx.Process(target=_write_chunk, args=(tmp_path, i, off))
        for i in ids
        for off in range(0, 40, 10)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert [p.exitcode for p in procs] == [0] * len(procs)
    assert _keys(tmp_path) == {(i, b.ts) for i in ids for b in daily_bars(i, n=40, t0=Y2023)}
    leftovers = [p.name for p in tmp_path.rglob("*.tmp")]
    assert leftovers == []
