-- The API's traffic per UTC day and route (the matched route template, or 'unmatched'):
-- requests, 4xx and 5xx answers, and a latency histogram, for the weekly report. Each
-- replica counts in memory and adds its counts every ~30 s with one additive upsert, so
-- replicas and flushes add up; p95 per day comes from the merged buckets. `buckets` holds
-- per-bucket (not cumulative) counts for the upper bounds in core/storage/api_daily.py
-- (BOUNDS_S), the last one +Inf.
CREATE TABLE api_daily (
    day         date NOT NULL,
    route       text NOT NULL,
    requests    bigint NOT NULL DEFAULT 0 CHECK (requests >= 0),
    errors_4xx  bigint NOT NULL DEFAULT 0 CHECK (errors_4xx >= 0),
    errors_5xx  bigint NOT NULL DEFAULT 0 CHECK (errors_5xx >= 0),
    seconds_sum double precision NOT NULL DEFAULT 0,
    buckets     bigint[] NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (day, route)
);
