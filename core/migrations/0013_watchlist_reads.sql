-- Reads of a real-size watchlist (hundreds of instruments) and a run's progress.
--
-- `GET /api/v1/watchlist` finds each instrument's latest published report in one pass;
-- the last two daily bars come from the bars' primary key, the recent sentiment from
-- articles_published_at_idx and the analyses' primary key.
CREATE INDEX reports_published_idx ON reports (instrument_id, published_at DESC)
    WHERE status = 'published';

-- The latest progress of a run while it goes on (the `job.progress` event's payload:
-- done, total, counts, last), so `GET /api/v1/status` can show it to a page that opens
-- mid-run; NULL for runs that never reported any.
ALTER TABLE job_runs ADD COLUMN progress jsonb;
ALTER TABLE job_runs ADD COLUMN progress_at timestamptz;
CREATE INDEX job_runs_active_idx ON job_runs (started_at DESC)
    WHERE status IN ('pending', 'running');
