-- Managed (ACME-issued) certificates: one lifecycle row per custom hostname that edgecert
-- issues for. Hostnames without a row (all those of earlier releases) keep the status computed
-- from whether a certificate is stored. The row goes with its hostname.
CREATE TABLE managed_certificates (
    hostname_id         BLOB PRIMARY KEY REFERENCES custom_hostnames (id) ON DELETE CASCADE,
    -- initializing, pending_validation, pending_issuance, pending_deployment or active.
    status              TEXT NOT NULL,
    -- A renewal walks the steps again while the API still shows active.
    renewing            INTEGER NOT NULL,
    key_type            TEXT NOT NULL,
    order_url           TEXT,
    -- The HTTP-01 token and key authorization the edge answers while validating.
    token               TEXT,
    key_authorization   TEXT,
    -- JSON array of the CA's last refusal, shown as ssl.validation_errors.
    validation_errors   TEXT NOT NULL,
    attempts            BIGINT NOT NULL,
    -- When work is next due (NULL: none), and the lease of the worker that claimed it.
    due_at_us           BIGINT,
    claimed_until_us    BIGINT,
    claim_id            BLOB,
    -- The order's key, sealed under the master key like every key, until it is deployed.
    pending_key_id      BLOB,
    pending_key_type    TEXT,
    pending_key_sealed  BLOB,
    pending_key_spki    BLOB,
    -- The issued chain, between download and deployment.
    pending_certificate TEXT
);
CREATE INDEX managed_certificates_due ON managed_certificates (due_at_us);
CREATE UNIQUE INDEX managed_certificates_token ON managed_certificates (token);

-- The ACME account used at each directory: registered once, its key sealed like every key.
CREATE TABLE acme_accounts (
    directory       TEXT PRIMARY KEY,
    account_url     TEXT NOT NULL,
    key_id          BLOB NOT NULL,
    key_type        TEXT NOT NULL,
    encrypted_pkcs8 BLOB NOT NULL,
    spki_der        BLOB NOT NULL,
    created_at_us   BIGINT NOT NULL
);
