-- Chat about one instrument, owned by one API key; another key cannot see the session.
-- A retried POST is safe: with an `Idempotency-Key`, (key, idempotency key) names the
-- session and (session, idempotency key) the user turn, so a retry finds what it made.
-- A user turn is claimed while it is answered (`state`, `claimed_until`): a concurrent
-- duplicate waits instead of spending the LLM budget twice; a failed turn can be retried.

CREATE TABLE chat_sessions (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    key_id          uuid NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    instrument_id   text NOT NULL REFERENCES instruments (id),
    idempotency_key text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (key_id, idempotency_key)
);
CREATE INDEX chat_sessions_key_idx ON chat_sessions (key_id, created_at DESC);

CREATE TABLE chat_messages (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    seq             bigint GENERATED ALWAYS AS IDENTITY,
    session_id      uuid NOT NULL REFERENCES chat_sessions (id) ON DELETE CASCADE,
    role            text NOT NULL CHECK (role IN ('user', 'assistant')),
    content         text NOT NULL,
    -- user turns
    idempotency_key text,
    state           text CHECK (state IN ('pending', 'answered', 'failed')),
    claimed_until   timestamptz,
    -- assistant answers: one per user turn
    reply_to        uuid UNIQUE REFERENCES chat_messages (id) ON DELETE CASCADE,
    method          text CHECK (method IN ('llm', 'lexicon')),
    model           text,
    cost_micro      bigint NOT NULL DEFAULT 0,
    citations       jsonb NOT NULL DEFAULT '[]'::jsonb,
    detail          jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (session_id, idempotency_key),
    CHECK ((role = 'user') = (state IS NOT NULL)),
    CHECK ((role = 'assistant') = (reply_to IS NOT NULL AND method IS NOT NULL))
);
CREATE INDEX chat_messages_session_idx ON chat_messages (session_id, seq);
