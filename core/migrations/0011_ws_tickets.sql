-- WebSocket tickets: a short-lived, single-use stand-in for an API key in the `/ws` URL
-- (URLs end up in proxy and browser logs; a spent or expired ticket is worth nothing there).
-- Only a SHA-256 of the ticket is stored. In Postgres rather than in a replica's memory so
-- that a ticket made on one replica opens a socket on any other, Redis or not.

CREATE TABLE ws_tickets (
    hash        bytea PRIMARY KEY,
    key_id      uuid NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX ws_tickets_expires_at ON ws_tickets (expires_at);
