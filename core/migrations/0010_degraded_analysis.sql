-- Analysis that degrades instead of blanking: a run can end `degraded` (some work fell back to
-- the lexicon), and an article scored by the lexicon in place of the LLM says why.

ALTER TABLE job_runs DROP CONSTRAINT job_runs_status_check;
ALTER TABLE job_runs ADD CONSTRAINT job_runs_status_check
    CHECK (status IN ('pending', 'running', 'succeeded', 'degraded', 'failed', 'cancelled'));

ALTER TABLE analyses ADD COLUMN note text;
