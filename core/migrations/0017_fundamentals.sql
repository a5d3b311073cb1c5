-- Financial statement figures (the `fundamentals` capability): one row per version of
-- (instrument, fiscal period, statement, canonical account, consolidated or separate).
-- A restatement (a later filing with a different value) adds version n+1 and keeps the
-- old rows; the same value fetched again adds nothing (core/storage/fundamentals.py).
-- `period` is '2024FY' or '2024Q1'..'2024Q4'; `report_id` the filing (DART's rcept_no).
CREATE TABLE fundamentals (
    instrument_id text NOT NULL REFERENCES instruments (id),
    period        text NOT NULL CHECK (period ~ '^[0-9]{4}(FY|Q[1-4])$'),
    period_end    date NOT NULL,
    statement     text NOT NULL CHECK (statement IN ('income', 'balance', 'cashflow')),
    account       text NOT NULL,
    consolidated  boolean NOT NULL,
    version       integer NOT NULL CHECK (version >= 1),
    value         numeric NOT NULL,
    currency      text NOT NULL,
    provider      text NOT NULL,
    report_id     text,
    fetched_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (instrument_id, period, statement, account, consolidated, version)
);
CREATE INDEX fundamentals_period_end_idx ON fundamentals (instrument_id, period_end);
