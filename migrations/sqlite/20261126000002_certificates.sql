-- Uploaded certificates pin the private key they use: a CSR whose key is referenced here
-- cannot be deleted (the foreign keys refuse it, whatever races the request).
CREATE TABLE custom_hostnames (
    id                   BLOB PRIMARY KEY,
    zone_id              TEXT NOT NULL,
    hostname             TEXT NOT NULL,
    ssl_id               BLOB NOT NULL,
    -- JSON echo of the request's ssl settings (method, type, bundle_method, ...).
    ssl_options          TEXT NOT NULL,
    key_id               BLOB REFERENCES private_keys (id),
    -- True when the customer uploaded the key: it is destroyed with the hostname.
    key_owned            INTEGER NOT NULL,
    custom_csr_id        BLOB REFERENCES custom_csrs (id),
    -- JSON of the verified certificate: PEM bundle and the fields the API shows.
    certificate          TEXT,
    custom_metadata      TEXT,
    custom_origin_server TEXT,
    custom_origin_sni    TEXT,
    ownership_token      BLOB NOT NULL,
    created_at_us        BIGINT NOT NULL,
    UNIQUE (zone_id, hostname)
);
CREATE INDEX custom_hostnames_by_created ON custom_hostnames (zone_id, created_at_us, id);
CREATE INDEX custom_hostnames_key ON custom_hostnames (key_id);
CREATE INDEX custom_hostnames_csr ON custom_hostnames (custom_csr_id);

CREATE TABLE custom_certificates (
    id             BLOB PRIMARY KEY,
    zone_id        TEXT NOT NULL,
    key_id         BLOB NOT NULL REFERENCES private_keys (id),
    key_owned      INTEGER NOT NULL,
    custom_csr_id  BLOB REFERENCES custom_csrs (id),
    certificate    TEXT NOT NULL,
    -- JSON: bundle_method, type, geo_restrictions, policy.
    options        TEXT NOT NULL,
    priority       BIGINT NOT NULL,
    uploaded_on_us BIGINT NOT NULL,
    modified_on_us BIGINT NOT NULL
);
CREATE INDEX custom_certificates_by_priority ON custom_certificates (zone_id, priority, uploaded_on_us, id);
CREATE INDEX custom_certificates_key ON custom_certificates (key_id);
CREATE INDEX custom_certificates_csr ON custom_certificates (custom_csr_id);
