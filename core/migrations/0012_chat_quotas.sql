-- Per-key daily chat quotas, kept like the global budget of 0004: a chat call reserves its
-- cost bound against its key's row for the day and the day's `llm_budget` row in one
-- transaction, then settles both from the call's usage, so neither limit can be passed.
-- (0011 was taken by ws_tickets, hence 0012.)

-- NULL: the key gets STOCKRAY_CHAT_USD_PER_KEY_PER_DAY.
ALTER TABLE api_keys ADD COLUMN chat_micro_per_day bigint CHECK (chat_micro_per_day >= 0);

CREATE TABLE chat_budget (
    key_id         uuid NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    day            date NOT NULL,
    limit_micro    bigint NOT NULL CHECK (limit_micro >= 0),
    reserved_micro bigint NOT NULL DEFAULT 0 CHECK (reserved_micro >= 0),
    spent_micro    bigint NOT NULL DEFAULT 0 CHECK (spent_micro >= 0),
    PRIMARY KEY (key_id, day)
);
