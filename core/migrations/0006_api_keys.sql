-- API keys for the HTTP API. Only a salted scrypt hash of the secret is stored; the
-- plaintext `sr_<prefix>_<secret>` is shown once at creation. `prefix` is the lookup key.

CREATE TABLE api_keys (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name         text NOT NULL,
    prefix       text NOT NULL UNIQUE,
    hash         text NOT NULL,
    scope        text NOT NULL CHECK (scope IN ('read', 'write', 'admin')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);
