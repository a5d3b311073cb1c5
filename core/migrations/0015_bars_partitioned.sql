-- Bars partitioned by time (declarative partitioning), in two levels:
--
--   bars                       PARTITION BY LIST (interval)
--     bars_daily               '1d','5d','1wk','1mo','3mo'    PARTITION BY RANGE (ts)
--       bars_daily_1987        one per UTC year, [1987-01-01, 1988-01-01)
--       bars_daily_default     anything no yearly partition holds yet
--     bars_intraday            every other interval (DEFAULT)  PARTITION BY RANGE (ts)
--       bars_intraday_2026_11  one per UTC month, [2026-11-01, 2026-12-01)
--       bars_intraday_default
--
-- Daily history goes back decades (a year is ~250 rows per instrument: yearly partitions);
-- intraday bars are recent and many, and their retention drops whole old months.
-- The writer (core.storage.partitions) calls bars_ensure_partitions before each batch, so
-- the DEFAULT partitions stay empty; they are there so that an insert never fails.
-- The existing rows move in this one transaction; the primary key keeps its columns.

ALTER TABLE bars RENAME TO bars_unpartitioned;
ALTER TABLE bars_unpartitioned RENAME CONSTRAINT bars_pkey TO bars_unpartitioned_pkey;
ALTER TABLE bars_unpartitioned
    RENAME CONSTRAINT bars_instrument_id_fkey TO bars_unpartitioned_instrument_id_fkey;

-- The same columns in the same order (row text, and so backup checksums, stay the same).
CREATE TABLE bars (
    instrument_id text NOT NULL REFERENCES instruments (id),
    interval      text NOT NULL,
    ts            timestamptz NOT NULL,
    open          double precision,
    high          double precision,
    low           double precision,
    close         double precision,
    volume        bigint,
    provider      text NOT NULL,
    fetched_at    timestamptz NOT NULL DEFAULT now(),
    partial       boolean NOT NULL DEFAULT false,
    PRIMARY KEY (instrument_id, interval, ts)
) PARTITION BY LIST (interval);

CREATE TABLE bars_daily PARTITION OF bars FOR VALUES IN ('1d', '5d', '1wk', '1mo', '3mo')
    PARTITION BY RANGE (ts);
CREATE TABLE bars_intraday PARTITION OF bars DEFAULT PARTITION BY RANGE (ts);
CREATE TABLE bars_daily_default PARTITION OF bars_daily DEFAULT;
CREATE TABLE bars_intraday_default PARTITION OF bars_intraday DEFAULT;

-- The partition that holds a bar of `iv` at `at`: its parent, name and bounds.
CREATE FUNCTION bars_partition_for(iv text, at timestamptz,
                                   OUT parent text, OUT name text,
                                   OUT lo timestamptz, OUT hi timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT p.parent, p.parent || '_' || to_char(p.lo AT TIME ZONE 'UTC', p.fmt), p.lo,
           p.lo + p.step
    FROM (SELECT CASE WHEN daily THEN 'bars_daily' ELSE 'bars_intraday' END AS parent,
                 date_trunc(CASE WHEN daily THEN 'year' ELSE 'month' END, at, 'UTC') AS lo,
                 CASE WHEN daily THEN interval '1 year' ELSE interval '1 month' END AS step,
                 CASE WHEN daily THEN 'YYYY' ELSE 'YYYY_MM' END AS fmt
          FROM (SELECT iv IN ('1d', '5d', '1wk', '1mo', '3mo') AS daily) d) p
$$;

-- Create the partitions that bars of intervals[i] from firsts[i] to lasts[i] need (each
-- month between them); returns how many it created. Idempotent and safe under concurrent
-- writers: creators queue on an advisory lock, and a partition another session created
-- meanwhile is skipped. Rows an insert put
-- in a DEFAULT partition before their partition existed move into it.
CREATE FUNCTION bars_ensure_partitions(intervals text[], firsts timestamptz[],
                                       lasts timestamptz[])
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    want record;
    created integer := 0;
BEGIN
    FOR want IN
        SELECT DISTINCT p.parent, p.name, p.lo, p.hi
        FROM unnest(intervals, firsts, lasts) AS u(iv, from_ts, to_ts),
             generate_series(date_trunc('month', u.from_ts, 'UTC'), u.to_ts, interval '1 month')
                 AS m(at),
             bars_partition_for(u.iv, m.at) p
        WHERE to_regclass(p.name) IS NULL
        ORDER BY p.name
    LOOP
        PERFORM pg_advisory_xact_lock(hashtext('stockray.bars_partitions'));
        CONTINUE WHEN to_regclass(want.name) IS NOT NULL;
        BEGIN
            EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                           want.name, want.parent, want.lo, want.hi);
        EXCEPTION
            WHEN duplicate_table OR unique_violation THEN
                CONTINUE;  -- another session made it after our look
            WHEN check_violation THEN  -- the DEFAULT partition holds rows of this range
                EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING '
                               'CONSTRAINTS)', want.name, want.parent);
                EXECUTE format('WITH moved AS (DELETE FROM %I WHERE ts >= %L AND ts < %L '
                               'RETURNING *) INSERT INTO %I SELECT * FROM moved',
                               want.parent || '_default', want.lo, want.hi, want.name);
                EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                               want.parent, want.name, want.lo, want.hi);
        END;
        created := created + 1;
    END LOOP;
    RETURN created;
END
$$;

-- Partitions for every existing row, this month and year, and the next ones.
SELECT bars_ensure_partitions(array_agg(interval), array_agg(ts), array_agg(ts))
FROM (SELECT DISTINCT interval, date_trunc('month', ts, 'UTC') AS ts FROM bars_unpartitioned
      UNION ALL
      SELECT iv, at FROM unnest(ARRAY['1d', '1m', '1d', '1m']::text[],
                                ARRAY[now(), now(), now() + interval '1 year',
                                      now() + interval '1 month']) AS n(iv, at)) wanted;

INSERT INTO bars (instrument_id, interval, ts, open, high, low, close, volume, provider,
                  fetched_at, partial)
SELECT instrument_id, interval, ts, open, high, low, close, volume, provider, fetched_at,
       partial
FROM bars_unpartitioned;

DROP TABLE bars_unpartitioned;
