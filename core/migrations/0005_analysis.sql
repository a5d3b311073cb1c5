-- Analysis results: one row per (article, instrument) per analysis, and reports per
-- instrument and window. `cache_key` = inputs fingerprint + model + prompt version: a
-- re-run with the same inputs finds its result and costs nothing.

CREATE TABLE analyses (
    fingerprint    text NOT NULL REFERENCES articles (fingerprint) ON DELETE CASCADE,
    instrument_id  text NOT NULL REFERENCES instruments (id),
    cache_key      text NOT NULL,
    method         text NOT NULL CHECK (method IN ('llm', 'lexicon')),
    model          text,
    prompt_version text NOT NULL,
    sentiment      double precision NOT NULL CHECK (sentiment BETWEEN -1 AND 1),
    label          text NOT NULL CHECK (label IN ('positive', 'negative', 'neutral')),
    relevance      double precision CHECK (relevance BETWEEN 0 AND 1),
    gist           text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (fingerprint, instrument_id, cache_key)
);
CREATE INDEX analyses_instrument_idx ON analyses (instrument_id, created_at DESC);

CREATE TABLE reports (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    instrument_id  text NOT NULL REFERENCES instruments (id),
    cache_key      text NOT NULL UNIQUE,
    window_start   timestamptz NOT NULL,
    window_end     timestamptz NOT NULL,
    method         text NOT NULL CHECK (method IN ('llm', 'lexicon')),
    model          text,
    prompt_version text NOT NULL,
    locale         text NOT NULL,
    summary        text NOT NULL,
    positives      jsonb NOT NULL DEFAULT '[]'::jsonb,
    concerns       jsonb NOT NULL DEFAULT '[]'::jsonb,
    outlook        text,
    rating         text NOT NULL
                   CHECK (rating IN ('strong_sell', 'sell', 'hold', 'buy', 'strong_buy')),
    sentiment      double precision NOT NULL CHECK (sentiment BETWEEN -1 AND 1),
    coverage       jsonb NOT NULL DEFAULT '{}'::jsonb,
    citations      jsonb NOT NULL DEFAULT '[]'::jsonb,
    status         text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'published')),
    published_at   timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reports_instrument_idx ON reports (instrument_id, created_at DESC);
