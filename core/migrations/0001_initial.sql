-- Instruments and the data collected about them; every table keyed on a natural key
-- so that writes are idempotent (INSERT ... ON CONFLICT).

CREATE TABLE instruments (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    exchange    text NOT NULL,
    currency    char(3) NOT NULL,
    timezone    text NOT NULL,
    symbols     jsonb NOT NULL DEFAULT '{}'::jsonb,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE bars (
    instrument_id text NOT NULL REFERENCES instruments (id),
    interval      text NOT NULL,
    ts            timestamptz NOT NULL,
    open          double precision,
    high          double precision,
    low           double precision,
    close         double precision,
    adj_close     double precision,
    volume        bigint,
    provider      text NOT NULL,
    fetched_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (instrument_id, interval, ts)
);

CREATE TABLE corporate_actions (
    instrument_id text NOT NULL REFERENCES instruments (id),
    kind          text NOT NULL CHECK (kind IN ('split', 'dividend')),
    ex_date       date NOT NULL,
    ratio         double precision,
    amount        double precision,
    provider      text NOT NULL,
    PRIMARY KEY (instrument_id, kind, ex_date)
);

CREATE TABLE articles (
    fingerprint  text PRIMARY KEY,
    url          text NOT NULL,
    title        text NOT NULL,
    summary      text,
    published_at timestamptz NOT NULL,
    provider     text NOT NULL,
    language     text NOT NULL,
    source       text,
    fetched_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX articles_published_at_idx ON articles (published_at DESC);

CREATE TABLE article_instruments (
    fingerprint   text NOT NULL REFERENCES articles (fingerprint) ON DELETE CASCADE,
    instrument_id text NOT NULL REFERENCES instruments (id),
    PRIMARY KEY (fingerprint, instrument_id)
);
CREATE INDEX article_instruments_instrument_idx ON article_instruments (instrument_id);

CREATE TABLE disclosures (
    provider      text NOT NULL,
    provider_id   text NOT NULL,
    instrument_id text NOT NULL REFERENCES instruments (id),
    title         text NOT NULL,
    filed_at      timestamptz NOT NULL,
    filer         text,
    url           text,
    fetched_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, provider_id)
);
CREATE INDEX disclosures_instrument_filed_idx ON disclosures (instrument_id, filed_at DESC);

CREATE TABLE job_runs (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    kind        text NOT NULL,
    trace_id    text NOT NULL,
    params      jsonb NOT NULL DEFAULT '{}'::jsonb,
    status      text NOT NULL DEFAULT 'running'
                CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'cancelled')),
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    counts      jsonb NOT NULL DEFAULT '{}'::jsonb,
    error       text
);
CREATE INDEX job_runs_kind_started_idx ON job_runs (kind, started_at DESC);
CREATE INDEX job_runs_trace_idx ON job_runs (trace_id);
