-- Every backup taken: `stockray backup` (logical, kind 'logical') and the base backups of
-- continuous archiving (kind 'base'). `stockray doctor` and the backup-age metric read the
-- newest of each kind; the retention job deletes the rows of the backups it prunes.
-- `verified_at` is when the backup was last checked (checksums of its files); NULL if never.
CREATE TABLE backups (
    id          bigserial PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('logical', 'base')),
    path        text NOT NULL UNIQUE,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    bytes       bigint NOT NULL CHECK (bytes >= 0),
    verified_at timestamptz,
    detail      jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX backups_newest_idx ON backups (kind, finished_at DESC);
