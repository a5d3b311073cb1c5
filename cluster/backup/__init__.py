"""`stockray backup` and `stockray restore`: the Postgres database plus the Parquet lake.

A backup is a directory (mode 0700; it holds every table, API key hashes included)::

    manifest.json    format, versions, migrations, per-table row count + checksum, file sha256
    postgres.dump    pg_dump --format=custom of the database
    lake/...         the lake's files, same relative paths

Consistency: the dump and the manifest's table checksums read one exported snapshot. The
lake is copied after it, each file under the writers' lock; collectors write the lake
before committing Postgres, so the lake holds every row the dump has (maybe newer ones,
which the next collect rewrites idempotently). Postgres is authoritative.

Restore verifies every file's sha256 before touching anything, refuses a running stack
unless `--force` (which stops it first), loads the dump in ONE transaction, checks row
counts and checksums, then swaps the lake (and, embedded, the data dir) into place, keeping
the previous ones as `*.pre-restore-<stamp>`. Each step is redone from the backup on a
re-run, so a crash mid-restore is safe to repeat. Exit codes: 0 ok, 1 failed, 2 bad usage.

By phase: `dump` writes a backup (and records it in `backups`, kind 'logical', once its
files read back as written), `manifest` is its typed `manifest.json`, `verify` checks
files, migrations and restored facts, `load` restores, `files` copies and swaps, `tools`
finds the Postgres client tools, `cli` holds the two commands. `pitr` is the other restore,
`restore --to-time`: the embedded database at an instant, from a base backup and the WAL
archive (core/pitr; `jobs.basebackup` takes the base backups).
"""

from cluster.backup.cli import cmd_backup, cmd_restore
from cluster.backup.dump import backup, default_path
from cluster.backup.errors import BackupError
from cluster.backup.load import Restored, restore, running_components
from cluster.backup.manifest import DUMP, FORMAT, MANIFEST, LakeFile, Manifest, PostgresDump
from cluster.backup.verify import compare_facts, verify_backup

__all__ = [
    "DUMP",
    "FORMAT",
    "MANIFEST",
    "BackupError",
    "LakeFile",
    "Manifest",
    "PostgresDump",
    "Restored",
    "backup",
    "cmd_backup",
    "cmd_restore",
    "compare_facts",
    "default_path",
    "restore",
    "running_components",
    "verify_backup",
]
