-- Certificate packs: a custom hostname's certificates each get their own id, and a hostname
-- may hold a second uploaded certificate (the real API bundles one RSA and one ECDSA
-- certificate per hostname, `ssl.custom_cert_bundle`). The first certificate stays in the
-- columns it always had, so hostnames of earlier releases are unchanged; the second one has
-- columns of its own, with the same foreign keys, so a CSR whose key it uses cannot be
-- deleted either. Columns on the hostname rather than a table: a pack holds at most two
-- certificates, and the edge's change feed already watches this table.
ALTER TABLE custom_hostnames ADD COLUMN certificate_id BLOB;
ALTER TABLE custom_hostnames ADD COLUMN bundle_certificate_id BLOB;
ALTER TABLE custom_hostnames ADD COLUMN bundle_key_id BLOB REFERENCES private_keys (id);
-- True when the customer uploaded the second key: it is destroyed with its certificate.
ALTER TABLE custom_hostnames ADD COLUMN bundle_key_owned INTEGER NOT NULL DEFAULT 0;
ALTER TABLE custom_hostnames ADD COLUMN bundle_csr_id BLOB REFERENCES custom_csrs (id);
-- JSON of the second verified certificate, as `certificate`.
ALTER TABLE custom_hostnames ADD COLUMN bundle_certificate TEXT;
CREATE INDEX custom_hostnames_bundle_key ON custom_hostnames (bundle_key_id);
CREATE INDEX custom_hostnames_bundle_csr ON custom_hostnames (bundle_csr_id);
-- Certificates stored before this release get an id of their own (16 random bytes, read as
-- a UUID) instead of showing the ssl id.
UPDATE custom_hostnames SET certificate_id = randomblob(16) WHERE certificate IS NOT NULL;
