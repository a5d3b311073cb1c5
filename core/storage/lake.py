"""The Parquet lake: bars and articles as hive-partitioned files for pyarrow, pandas, Ray Data.

Layout under the root (the stack passes `<home>/lake`)::

    bars/interval=1d/year=2024/part-07.parquet     bucket = crc32(instrument_id) % 16
    actions/part-07.parquet                        splits and dividends, same buckets
    articles/date=2024-05-01/part-00.parquet       date = UTC date of published_at

Bars are as traded (what printed, in the instrument's currency), like the `bars` table;
adjusted series are derived from the actions on read, so a later split rewrites no bar file.

Bars are bucketed rather than one directory per ticker: a backfill of one instrument
rewrites one small file per year, and a watchlist of thousands does not mean thousands of
directories. Each write reads the file, merges by natural key (the new row wins), sorts and
writes a temp file that `os.replace` swaps in: rerunning a window rewrites it, never
duplicates it, and identical input gives byte-identical files. Writers of the same file
queue on an fcntl lock file beside it (dot-files, which pyarrow and Ray Data skip).

Caveat: fcntl locks hold between processes of ONE machine (Ray tasks on a node share the
disk). Several machines writing one shared lake need a single writer per partition or an
object-store commit protocol; NFS locks are not to be trusted with this.
"""

from __future__ import annotations

import fcntl
import os
import re
import threading
import zlib
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from core.models import Article, Bar, CorporateAction

BUCKETS = 16
TS = pa.timestamp("us", tz="UTC")
BAR_SCHEMA = pa.schema(
    [
        ("instrument_id", pa.string()),
        ("ts", TS),
        ("open", pa.float64()),
        ("high", pa.float64()),
        ("low", pa.float64()),
        ("close", pa.float64()),
        ("volume", pa.int64()),
        ("provider", pa.string()),
        ("partial", pa.bool_()),
    ]
)
ACTION_SCHEMA = pa.schema(
    [
        ("instrument_id", pa.string()),
        ("kind", pa.string()),
        ("ex_date", pa.date32()),
        ("ratio", pa.float64()),
        ("amount", pa.float64()),
        ("provider", pa.string()),
    ]
)
_ACTION_KEYS = ["instrument_id", "kind", "ex_date"]
ARTICLE_SCHEMA = pa.schema(
    [
        ("fingerprint", pa.string()),
        ("url", pa.string()),
        ("title", pa.string()),
        ("summary", pa.string()),
        ("published_at", TS),
        ("provider", pa.string()),
        ("language", pa.string()),
        ("source", pa.string()),
        ("instrument_ids", pa.list_(pa.string())),
    ]
)
BAR_PARTITIONING = ds.partitioning(
    pa.schema([("interval", pa.string()), ("year", pa.int32())]), flavor="hive"
)
ARTICLE_PARTITIONING = ds.partitioning(pa.schema([("date", pa.string())]), flavor="hive")
_BAR_COLUMNS = ["instrument_id", "interval", *BAR_SCHEMA.names[1:]]
_INTERVAL = re.compile(r"^[0-9A-Za-z]+$")
# Fixed writer options: the same rows always give the same bytes.
_WRITE_OPTIONS = dict(
    compression="zstd",
    compression_level=3,
    use_dictionary=["instrument_id", "provider", "language", "source"],
    write_statistics=True,
    version="2.6",
    row_group_size=1 << 20,
)


def bucket_of(instrument_id: str) -> int:
    """The bar file bucket of an instrument: crc32 is stable across processes, unlike hash()."""
    return zlib.crc32(instrument_id.encode()) % BUCKETS


class Lake:
    """Parquet files under `root`; every write is a deterministic read-merge-replace."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def bar_file(self, interval: str, year: int, instrument_id: str) -> Path:
        """Where the bars of one instrument, interval and year live."""
        if not _INTERVAL.match(interval):
            raise ValueError(f"interval {interval!r} is not usable as a partition value")
        name = f"part-{bucket_of(instrument_id):02d}.parquet"
        return self.root / "bars" / f"interval={interval}" / f"year={year}" / name

    def article_file(self, published_at: datetime) -> Path:
        """Where the articles published on that UTC date live."""
        day = published_at.astimezone(UTC).date().isoformat()
        return self.root / "articles" / f"date={day}" / "part-00.parquet"

    def write_bars(self, bars: Sequence[Bar]) -> int:
        """Merge bars into their files (a repeated key keeps the last bar).

        Returns the number of distinct (instrument_id, interval, ts) written from `bars`.
        """
        groups: dict[Path, list[Bar]] = defaultdict(list)
        for bar in bars:
            groups[self.bar_file(bar.interval, _utc(bar.ts).year, bar.instrument_id)].append(bar)
        written = 0
        for path in sorted(groups):
            new = _last_per_key(_table(groups[path], BAR_SCHEMA), ["instrument_id", "ts"])
            written += new.num_rows
            with locked(path):
                _replace(path, _merge(path, new, BAR_SCHEMA, ["instrument_id", "ts"]))
        return written

    def action_file(self, instrument_id: str) -> Path:
        """Where the splits and dividends of an instrument live."""
        return self.root / "actions" / f"part-{bucket_of(instrument_id):02d}.parquet"

    def write_actions(self, actions: Sequence[CorporateAction]) -> int:
        """Merge splits and dividends into their files by (instrument_id, kind, ex_date)."""
        groups: dict[Path, list[CorporateAction]] = defaultdict(list)
        for action in actions:
            groups[self.action_file(action.instrument_id)].append(action)
        written = 0
        for path in sorted(groups):
            new = _last_per_key(_table(groups[path], ACTION_SCHEMA), _ACTION_KEYS)
            written += new.num_rows
            with locked(path):
                _replace(path, _merge(path, new, ACTION_SCHEMA, _ACTION_KEYS))
        return written

    def read_actions(self, instrument_ids: Sequence[str] | None = None) -> pa.Table:
        """Splits and dividends, sorted by (instrument_id, kind, ex_date)."""
        root = self.root / "actions"
        if not root.is_dir():
            return ACTION_SCHEMA.empty_table()
        table = ds.dataset(root, format="parquet", schema=ACTION_SCHEMA).to_table()
        if instrument_ids is not None:
            table = table.filter(pc.is_in(table["instrument_id"], pa.array(instrument_ids)))
        return table.sort_by([(k, "ascending") for k in _ACTION_KEYS])

    def write_articles(self, articles: Sequence[Article]) -> int:
        """Merge articles into their date files by fingerprint; instrument links accumulate.

        Returns the number of distinct fingerprints written from `articles`.
        """
        groups: dict[Path, list[Article]] = defaultdict(list)
        for article in articles:
            groups[self.article_file(article.published_at)].append(article)
        written = 0
        for path in sorted(groups):
            with locked(path):
                rows = {r["fingerprint"]: r for r in _read(path, ARTICLE_SCHEMA).to_pylist()}
                fresh = {}
                for article in groups[path]:
                    old = fresh.get(article.fingerprint) or rows.get(article.fingerprint)
                    fresh[article.fingerprint] = _article_row(article, old)
                written += len(fresh)
                rows.update(fresh)
                ordered = sorted(rows.values(), key=lambda r: (r["published_at"], r["fingerprint"]))
                _replace(path, pa.Table.from_pylist(ordered, schema=ARTICLE_SCHEMA))
        return written

    def read_bars(
        self,
        instrument_ids: Sequence[str] | None = None,
        interval: str = "1d",
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> pa.Table:
        """Bars of one interval with `start <= ts < end`, sorted by (instrument_id, ts)."""
        root = self.root / "bars"
        if not root.is_dir():
            return _empty(BAR_SCHEMA, {"interval": pa.string()}).select(_BAR_COLUMNS)
        where = ds.field("interval") == interval
        if start is not None:
            where &= (ds.field("year") >= _utc(start).year) & (ds.field("ts") >= _ts(start))
        if end is not None:
            where &= (ds.field("year") <= _utc(end).year) & (ds.field("ts") < _ts(end))
        if instrument_ids is not None:
            where &= ds.field("instrument_id").isin(list(instrument_ids))
        # An explicit schema: files written before `partial` existed read it as null.
        schema = _empty(BAR_SCHEMA, {"interval": pa.string(), "year": pa.int32()}).schema
        dataset = ds.dataset(root, format="parquet", partitioning=BAR_PARTITIONING, schema=schema)
        table = dataset.to_table(filter=where, columns=_BAR_COLUMNS)
        partial = pc.fill_null(table["partial"], False)
        table = table.set_column(table.schema.get_field_index("partial"), "partial", partial)
        return table.sort_by([("instrument_id", "ascending"), ("ts", "ascending")])

    def read_articles(self, start: datetime | None = None, end: datetime | None = None) -> pa.Table:
        """Articles with `start <= published_at < end`, sorted by (published_at, fingerprint)."""
        root = self.root / "articles"
        if not root.is_dir():
            return _empty(ARTICLE_SCHEMA, {})
        where = pc.scalar(True)
        if start is not None:
            day = _utc(start).date().isoformat()
            where &= (ds.field("date") >= day) & (ds.field("published_at") >= _ts(start))
        if end is not None:
            day = _utc(end).date().isoformat()
            where &= (ds.field("date") <= day) & (ds.field("published_at") < _ts(end))
        dataset = ds.dataset(root, format="parquet", partitioning=ARTICLE_PARTITIONING)
        table = dataset.to_table(filter=where, columns=ARTICLE_SCHEMA.names)
        return table.sort_by([("published_at", "ascending"), ("fingerprint", "ascending")])


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"lake timestamps are timezone-aware; got naive {value!r}")
    return value.astimezone(UTC)


def _ts(value: datetime) -> pa.Scalar:
    return pa.scalar(_utc(value), type=TS)


def _empty(schema: pa.Schema, extra: dict[str, pa.DataType]) -> pa.Table:
    for name, kind in extra.items():
        schema = schema.append(pa.field(name, kind))
    return schema.empty_table()


def _table(rows: Sequence[Bar] | Sequence[CorporateAction], schema: pa.Schema) -> pa.Table:
    columns = [[getattr(r, name) for r in rows] for name in schema.names]
    return pa.Table.from_arrays(
        [pa.array(c, type=f.type) for c, f in zip(columns, schema, strict=True)], schema=schema
    )


def _article_row(article: Article, old: dict | None) -> dict:
    links = set(article.instrument_ids) | set(old["instrument_ids"] if old else ())
    row = {name: getattr(article, name) for name in ARTICLE_SCHEMA.names[:-1]}
    row["published_at"] = _utc(article.published_at)
    row["instrument_ids"] = sorted(links)
    return row


def _last_per_key(table: pa.Table, keys: list[str]) -> pa.Table:
    """Sort by `keys` and keep the last row of each key (later rows win)."""
    n = table.num_rows
    if n == 0:
        return table
    table = table.append_column("__seq", pa.array(range(n), type=pa.int64()))
    order = [(k, "ascending") for k in [*keys, "__seq"]]
    table = table.sort_by(order).combine_chunks()
    keep = None
    for k in keys:
        col = table[k].chunk(0)  # one chunk after combine_chunks
        differs = pc.not_equal(col.slice(0, n - 1), col.slice(1))
        keep = differs if keep is None else pc.or_(keep, differs)
    keep = pa.concat_arrays([keep, pa.array([True])])
    return table.filter(keep).drop_columns(["__seq"])


def _read(path: Path, schema: pa.Schema) -> pa.Table:
    if not path.exists():
        return schema.empty_table()
    # ParquetFile, not read_table: no partition columns inferred from the path.
    file = pq.ParquetFile(path)
    present = [n for n in schema.names if n in file.schema_arrow.names]
    table = file.read(columns=present)
    # Files written before a column existed (bars before `partial`) read it as its default.
    for field in schema:
        if field.name not in present:
            default = False if pa.types.is_boolean(field.type) else None
            table = table.append_column(field, pa.array([default] * table.num_rows, field.type))
    return table.select(schema.names).cast(schema).replace_schema_metadata(None)


def _merge(path: Path, new: pa.Table, schema: pa.Schema, keys: list[str]) -> pa.Table:
    """The file's rows updated by `new` (already one row per key), sorted by key."""
    old = _read(path, schema)
    if old.num_rows == 0:
        return new
    return _last_per_key(pa.concat_tables([old, new]), keys)


def _replace(path: Path, table: pa.Table) -> None:
    """Write `table` beside `path` and swap it in, so readers see the old or the new file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as f:
            pq.write_table(table.combine_chunks(), f, **_WRITE_OPTIONS)
            f.flush()
            os.fsync(f.fileno())  # a crash must not leave a renamed but empty file
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive fcntl lock on the file's `.lock` sibling (also between threads)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # One open() per holder: flock locks belong to the open file description, so two
    # threads of one process exclude each other as two processes do.
    with open(path.with_name(f".{path.name}.lock"), "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
