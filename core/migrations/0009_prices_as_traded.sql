-- Prices as traded. A bar keeps what printed that day, in the instrument's currency;
-- splits and dividends live in corporate_actions and adjusted series are derived on read,
-- so a split that arrives later changes factors, never a stored bar.
--
-- Until now Yahoo's bars were stored as Yahoo sends them: divided by every split up to the
-- day they were fetched. Multiply them back by the stored splits dated after the bar's
-- trading day and on or before the day it was fetched (volume divided). Yahoo's dividend
-- amounts were split-adjusted the same way. A split that was never stored cannot be undone
-- here: the README says how to rebuild a series from the providers.

ALTER TABLE bars ADD COLUMN partial boolean NOT NULL DEFAULT false;

WITH factors AS (
    SELECT b.instrument_id, b.interval, b.ts, exp(sum(ln(ca.ratio))) AS factor
    FROM bars b
    JOIN instruments i ON i.id = b.instrument_id
    JOIN corporate_actions ca
      ON ca.instrument_id = b.instrument_id AND ca.kind = 'split' AND ca.ratio > 0
     AND ca.ex_date > (b.ts AT TIME ZONE i.timezone)::date
     AND ca.ex_date <= (b.fetched_at AT TIME ZONE i.timezone)::date
    WHERE b.provider = 'yahoo'
    GROUP BY b.instrument_id, b.interval, b.ts)
UPDATE bars b
SET open = b.open * f.factor, high = b.high * f.factor, low = b.low * f.factor,
    close = b.close * f.factor, volume = round(b.volume / f.factor)::bigint
FROM factors f
WHERE b.instrument_id = f.instrument_id AND b.interval = f.interval AND b.ts = f.ts;

WITH factors AS (
    SELECT d.instrument_id, d.ex_date, exp(sum(ln(s.ratio))) AS factor
    FROM corporate_actions d
    JOIN corporate_actions s
      ON s.instrument_id = d.instrument_id AND s.kind = 'split' AND s.ratio > 0
     AND s.ex_date > d.ex_date
    WHERE d.kind = 'dividend' AND d.provider = 'yahoo'
    GROUP BY d.instrument_id, d.ex_date)
UPDATE corporate_actions d
SET amount = d.amount * f.factor
FROM factors f
WHERE d.kind = 'dividend' AND d.instrument_id = f.instrument_id AND d.ex_date = f.ex_date;

-- adj_close was the provider's own adjustment as of the fetch: it goes stale with every
-- later action, so it is derived on read now.
ALTER TABLE bars DROP COLUMN adj_close;

ALTER TABLE corporate_actions ADD CONSTRAINT corporate_actions_values_check CHECK (
    (kind = 'split' AND ratio > 0) OR (kind = 'dividend' AND amount >= 0)) NOT VALID;
