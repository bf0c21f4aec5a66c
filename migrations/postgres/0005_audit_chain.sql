-- The hash chain covers every recorded column (scheme 2, see src/store/chain.rs). Entries
-- written before this migration keep scheme 1 and are checked as they were: nothing is rehashed.
ALTER TABLE events ADD COLUMN hash_version BIGINT NOT NULL DEFAULT 1;
-- The opening entry's salted digest of the case's opening data; the salt stays beside the data,
-- so a retention job can erase both and the chain still verifies.
ALTER TABLE events ADD COLUMN data_digest TEXT;
ALTER TABLE cases ADD COLUMN data_salt TEXT;

-- Audit checkpoints: one root hash over every case's head, chained to the previous checkpoint,
-- witnessed outside the database (the monthly report mail). Append-only.
CREATE TABLE audit_checkpoints (
    id         BIGSERIAL   PRIMARY KEY,
    created_at TIMESTAMPTZ NOT NULL,
    cases      BIGINT      NOT NULL,
    prev_root  TEXT        NOT NULL UNIQUE,
    root       TEXT        NOT NULL UNIQUE
);
CREATE TABLE audit_checkpoint_heads (
    checkpoint BIGINT NOT NULL REFERENCES audit_checkpoints (id),
    reference  TEXT   NOT NULL,
    seq        BIGINT NOT NULL,
    hash       TEXT   NOT NULL,
    PRIMARY KEY (checkpoint, reference)
);
CREATE FUNCTION audit_checkpoints_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit checkpoints are append-only';
END;
$$;
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_checkpoints_append_only();
CREATE TRIGGER audit_checkpoint_heads_append_only BEFORE UPDATE OR DELETE ON audit_checkpoint_heads
    FOR EACH ROW EXECUTE FUNCTION audit_checkpoints_append_only();
