"""Point-in-time recovery of the embedded Postgres, without Ray: the WAL archive
(`archive`), base backups and their retention (`basebackups`) and the Postgres tools they
run (`tools`). `cluster/postgres.py` turns archiving on, `jobs/basebackup.py` takes and
prunes base backups, `cluster/backup/pitr.py` restores to an instant.

Layout::

    <STOCKRAY_WAL_ARCHIVE or home/wal_archive>/<system identifier>/   archived WAL segments
    <home>/basebackups/<UTC time>/data/            pg_basebackup -Fp -X stream (a data dir)
    <home>/basebackups/<UTC time>/stockray.json    when, where its WAL starts, verified

The archive is split by the cluster's system identifier: a new cluster (a logical
`restore`, a deleted data dir) starts its WAL names again at 1, and must not collide with
the previous cluster's segments (the archive never overwrites a different file).
"""
