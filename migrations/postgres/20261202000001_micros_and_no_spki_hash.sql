-- custom_csrs.created_at becomes microseconds since the Unix epoch, as every other table and
-- the SQLite schema keep it, so both backends read and write it with the same code. The value
-- is computed from whole seconds and the microseconds within them, exact whatever type
-- EXTRACT returns on this server version.
ALTER TABLE custom_csrs ADD COLUMN created_at_us BIGINT;
UPDATE custom_csrs SET created_at_us =
    EXTRACT(EPOCH FROM date_trunc('second', created_at))::BIGINT * 1000000
    + EXTRACT(MICROSECONDS FROM created_at)::BIGINT % 1000000;
ALTER TABLE custom_csrs ALTER COLUMN created_at_us SET NOT NULL;
DROP INDEX custom_csrs_by_created;
ALTER TABLE custom_csrs DROP COLUMN created_at;
CREATE INDEX custom_csrs_by_created ON custom_csrs (scope_kind, scope_id, created_at_us, id);

-- Never queried: certificates are matched to their key by comparing spki_der.
DROP INDEX private_keys_spki_sha256;
ALTER TABLE private_keys DROP COLUMN spki_sha256;
ALTER TABLE key_pool DROP COLUMN spki_sha256;
