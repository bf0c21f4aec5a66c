-- Cases opened by an event of another case (a referral escalated into a dispute, a transfer's
-- dispute), written in the same transaction as both cases' entries. The new case's opening
-- entry also names its source in its (hashed) fields.
CREATE TABLE case_links (
    source_id  BIGINT      NOT NULL REFERENCES cases (id),
    target_id  BIGINT      NOT NULL REFERENCES cases (id),
    event      TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (source_id, target_id)
);
CREATE INDEX case_links_target ON case_links (target_id);
