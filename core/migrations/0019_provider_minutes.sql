-- Provider HTTP requests per minute, for the Operations page's request-rate chart. Each
-- provider actor (the only caller of its provider in the cluster) counts in memory and adds
-- its counts every ~10 s with one additive upsert, so an actor restart or a second writer
-- adds up instead of overwriting. `requests` counts calls sent to the provider (what its
-- rate limit counts), `refused` those it answered with a rate limit or spent quota, and
-- `failed` any other error. Rows older than two days are pruned by the writers.
CREATE TABLE provider_minutes (
    provider    text NOT NULL,
    minute      timestamptz NOT NULL,
    requests    integer NOT NULL DEFAULT 0 CHECK (requests >= 0),
    refused     integer NOT NULL DEFAULT 0 CHECK (refused >= 0),
    failed      integer NOT NULL DEFAULT 0 CHECK (failed >= 0),
    PRIMARY KEY (provider, minute)
);
CREATE INDEX provider_minutes_minute_idx ON provider_minutes (minute);
