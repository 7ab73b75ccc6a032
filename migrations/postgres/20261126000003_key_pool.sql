-- Keys generated ahead of demand, sealed under the master key like every stored key. A CSR
-- claims one by deleting its row and storing the same sealed bytes in private_keys under the
-- same id (the id is the seal's associated data), so a pooled key is used at most once.
CREATE TABLE key_pool (
    id              UUID PRIMARY KEY,
    key_type        TEXT NOT NULL,
    encrypted_pkcs8 BYTEA NOT NULL,
    spki_der        BYTEA NOT NULL,
    spki_sha256     BYTEA NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX key_pool_by_type ON key_pool (key_type);
