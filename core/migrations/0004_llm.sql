-- LLM spending: every call recorded, and a daily budget held as reserve-then-settle.
-- Money is integer micro-dollars: sums stay exact.

CREATE TABLE llm_usage (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    endpoint    text NOT NULL,
    model       text NOT NULL,
    tokens_in   integer NOT NULL,
    tokens_out  integer NOT NULL,
    cost_micro  bigint NOT NULL,
    trace_id    text,
    purpose     text NOT NULL,
    status      text NOT NULL CHECK (status IN ('ok', 'invalid', 'error')),
    detail      text
);
CREATE INDEX llm_usage_at_idx ON llm_usage (at);

CREATE TABLE llm_budget (
    day            date PRIMARY KEY,
    limit_micro    bigint NOT NULL CHECK (limit_micro >= 0),
    reserved_micro bigint NOT NULL DEFAULT 0 CHECK (reserved_micro >= 0),
    spent_micro    bigint NOT NULL DEFAULT 0 CHECK (spent_micro >= 0)
);
