-- Subscriptions: which instruments and event types a key wants on the WebSocket.
-- Owned by one API key; another key cannot see or delete them. Empty arrays mean "all".
-- Arrays are stored sorted and deduplicated, so (key, instruments, events) is a natural key
-- and a retried POST finds the subscription it already made.

CREATE TABLE subscriptions (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    key_id      uuid NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    instruments text[] NOT NULL,
    events      text[] NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (key_id, instruments, events)
);
