-- The scheduler's memory: one row per (schedule, slot) it handled, so a restarted
-- scheduler neither runs a slot twice nor forgets where it was; and per schedule its
-- next due time and a heartbeat for `stockray status`.

CREATE TABLE schedule_runs (
    schedule      text NOT NULL,
    slot          timestamptz NOT NULL,
    submission_id text NOT NULL,
    status        text NOT NULL
                  CHECK (status IN ('submitted', 'skipped_overlap', 'skipped_missed',
                                    'submit_failed')),
    detail        text,
    recorded_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (schedule, slot)
);

CREATE TABLE schedule_state (
    schedule     text PRIMARY KEY,
    next_due     timestamptz,
    last_slot    timestamptz,
    heartbeat_at timestamptz NOT NULL DEFAULT now()
);
