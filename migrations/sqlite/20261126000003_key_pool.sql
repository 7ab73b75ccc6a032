-- Same schema as migrations/postgres: keys generated ahead of demand, claimed by deleting the
-- row and storing the same sealed bytes in private_keys under the same id.
CREATE TABLE key_pool (
    id              BLOB PRIMARY KEY,
    key_type        TEXT NOT NULL,
    encrypted_pkcs8 BLOB NOT NULL,
    spki_der        BLOB NOT NULL,
    spki_sha256     BLOB NOT NULL,
    created_at_us   INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER))
);
CREATE INDEX key_pool_by_type ON key_pool (key_type);
