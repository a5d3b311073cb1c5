-- Grounded reports and degraded runs.
--
-- A report now rests on facts computed from stored data (returns, range, volume, largest
-- move, filings, the article verdicts), each with an id and the rows it came from; the
-- rating is computed by our code from those, and the model's own rating is kept beside it
-- with a flag when the two disagree. Claims whose numbers matched no cited fact and could
-- not be repaired are dropped and counted.
ALTER TABLE reports ADD COLUMN facts jsonb NOT NULL DEFAULT '[]'::jsonb;
ALTER TABLE reports ADD COLUMN model_rating text
    CHECK (model_rating IN ('strong_sell', 'sell', 'hold', 'buy', 'strong_buy'));
ALTER TABLE reports ADD COLUMN rating_disagrees boolean NOT NULL DEFAULT false;
ALTER TABLE reports ADD COLUMN dropped_claims integer NOT NULL DEFAULT 0;

-- A run that finished but had to fall back (part of it scored by the lexicon, say) ends
-- as `degraded`, distinct from `succeeded` and `failed`.
ALTER TABLE job_runs DROP CONSTRAINT job_runs_status_check;
ALTER TABLE job_runs ADD CONSTRAINT job_runs_status_check
    CHECK (status IN ('pending', 'running', 'succeeded', 'degraded', 'failed', 'cancelled'));
