-- Private keys are sealed with AES-256-GCM under the master key; the public half is kept in
-- the clear so uploaded certificates can be matched to their key.
CREATE TABLE private_keys (
    id              UUID PRIMARY KEY,
    key_type        TEXT NOT NULL,
    encrypted_pkcs8 BYTEA NOT NULL,
    spki_der        BYTEA NOT NULL,
    spki_sha256     BYTEA NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX private_keys_spki_sha256 ON private_keys (spki_sha256);

CREATE TABLE custom_csrs (
    id                  UUID PRIMARY KEY,
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
    key_id              UUID NOT NULL UNIQUE REFERENCES private_keys (id),
    created_at          TIMESTAMPTZ NOT NULL
);
-- One index per list ordering; id breaks ties so pages never skip or repeat.
CREATE INDEX custom_csrs_by_created ON custom_csrs (scope_kind, scope_id, created_at, id);
CREATE INDEX custom_csrs_by_name ON custom_csrs (scope_kind, scope_id, name NULLS FIRST, id);
CREATE INDEX custom_csrs_by_account_tag ON custom_csrs (scope_kind, scope_id, account_tag NULLS FIRST, id);

-- Maintained with every insert and delete, so a list's total_count is one row read instead
-- of a count over the whole zone.
CREATE TABLE custom_csr_counts (
    scope_kind TEXT NOT NULL,
    scope_id   TEXT NOT NULL,
    csr_count  BIGINT NOT NULL CHECK (csr_count >= 0),
    PRIMARY KEY (scope_kind, scope_id)
);

CREATE TABLE api_tokens (
    token_sha256 BYTEA PRIMARY KEY,
    label        TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
