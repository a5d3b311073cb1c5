-- Collection bookkeeping: how far each (instrument, capability, provider) is covered, and
-- which chunks of a backfill are done, so a rerun resumes instead of starting over.

CREATE TABLE watermarks (
    instrument_id text NOT NULL REFERENCES instruments (id),
    capability    text NOT NULL,
    provider      text NOT NULL,
    covered_until timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (instrument_id, capability, provider)
);

CREATE TABLE backfill_chunks (
    backfill_id   text NOT NULL,
    instrument_id text NOT NULL REFERENCES instruments (id),
    capability    text NOT NULL,
    interval      text,
    period_start  timestamptz NOT NULL,
    period_end    timestamptz NOT NULL,
    status        text NOT NULL CHECK (status IN ('done', 'failed')),
    rows          integer NOT NULL DEFAULT 0,
    provider      text,
    error         text,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (backfill_id, instrument_id, capability, period_start),
    CHECK (period_start < period_end)
);
