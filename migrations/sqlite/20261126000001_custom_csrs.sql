-- Same schema as migrations/postgres. UUIDs are 16-byte BLOBs and timestamps are
-- microseconds since the Unix epoch, so ordering matches Postgres byte for byte.
CREATE TABLE private_keys (
    id              BLOB PRIMARY KEY,
    key_type        TEXT NOT NULL,
    encrypted_pkcs8 BLOB NOT NULL,
    spki_der        BLOB NOT NULL,
    spki_sha256     BLOB NOT NULL,
    created_at_us   INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER))
);
CREATE INDEX private_keys_spki_sha256 ON private_keys (spki_sha256);

CREATE TABLE custom_csrs (
    id                  BLOB PRIMARY KEY,
    scope_kind          TEXT NOT NULL CHECK (scope_kind IN ('zone', 'account')),
    scope_id            TEXT NOT NULL,
    account_tag         TEXT,
    name                TEXT,
    description         TEXT,
    country             TEXT NOT NULL,
    state               TEXT NOT NULL,
    locality            TEXT NOT NULL,
    organization        TEXT NOT NULL,
    organizational_unit TEXT,
    common_name         TEXT NOT NULL,
    sans                TEXT NOT NULL,
    key_type            TEXT NOT NULL,
    csr_pem             TEXT NOT NULL,
    key_id              BLOB NOT NULL UNIQUE REFERENCES private_keys (id),
    created_at_us       INTEGER NOT NULL
);
CREATE INDEX custom_csrs_by_created ON custom_csrs (scope_kind, scope_id, created_at_us, id);
CREATE INDEX custom_csrs_by_name ON custom_csrs (scope_kind, scope_id, name, id);
CREATE INDEX custom_csrs_by_account_tag ON custom_csrs (scope_kind, scope_id, account_tag, id);

-- Maintained with every insert and delete, so a list's total_count is one row read instead
-- of a count over the whole zone.
CREATE TABLE custom_csr_counts (
    scope_kind TEXT NOT NULL,
    scope_id   TEXT NOT NULL,
    csr_count  INTEGER NOT NULL CHECK (csr_count >= 0),
    PRIMARY KEY (scope_kind, scope_id)
);

CREATE TABLE api_tokens (
    token_sha256 BLOB PRIMARY KEY,
    label        TEXT NOT NULL,
    created_at_us INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER))
);

CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
