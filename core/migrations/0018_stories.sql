-- One story, many sources (core/stories.py): near-duplicate articles share a story id, the
-- fingerprint of the story's first article (NULL for articles stored before this migration:
-- readers take the article's own fingerprint then). A new article finds its candidate
-- stories with one indexed query on its MinHash LSH band hashes (story_bands), and is
-- compared with their stored MinHash signatures (story_signatures: NUM_PERM 32-bit values)
-- and the percentages in their titles.
ALTER TABLE articles ADD COLUMN story_id text;
CREATE INDEX articles_story_idx ON articles (story_id);

CREATE TABLE story_signatures (
    fingerprint  text PRIMARY KEY REFERENCES articles (fingerprint) ON DELETE CASCADE,
    language     text NOT NULL,
    published_at timestamptz NOT NULL,
    minhash      bytea NOT NULL,
    figures      text[] NOT NULL DEFAULT '{}'  -- the title's percentages
);

CREATE TABLE story_bands (
    band        smallint NOT NULL,
    hash        bigint NOT NULL,
    fingerprint text NOT NULL REFERENCES articles (fingerprint) ON DELETE CASCADE,
    PRIMARY KEY (band, hash, fingerprint)
);
CREATE INDEX story_bands_fingerprint_idx ON story_bands (fingerprint);
