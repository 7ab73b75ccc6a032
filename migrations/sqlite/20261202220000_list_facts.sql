-- Facts the custom hostname and custom certificate lists filter and sort by, kept in columns
-- beside the JSON they come from. Triggers keep them true on every write (create, edit,
-- upload, ACME deployment, manual repair), so no write path can forget them; rows of earlier
-- releases get them from the UPDATEs below.
ALTER TABLE custom_hostnames ADD COLUMN ssl_method TEXT;
ALTER TABLE custom_hostnames ADD COLUMN certificate_authority TEXT;
ALTER TABLE custom_hostnames ADD COLUMN wildcard INTEGER NOT NULL DEFAULT 0;
ALTER TABLE custom_hostnames ADD COLUMN certificate_expires_us BIGINT;

ALTER TABLE custom_certificates ADD COLUMN expires_on_us BIGINT;

-- Timestamps are RFC 3339 text in the stored JSON (whole seconds for certificates); *_us
-- columns count microseconds. JSON true reads as 1.
CREATE TRIGGER custom_hostnames_list_facts_insert AFTER INSERT ON custom_hostnames
BEGIN
    UPDATE custom_hostnames SET
        ssl_method = json_extract(NEW.ssl_options, '$.method'),
        certificate_authority = json_extract(NEW.ssl_options, '$.certificate_authority'),
        wildcard = (NEW.hostname LIKE '*.%'
            OR COALESCE(json_extract(NEW.ssl_options, '$.wildcard'), 0) = 1),
        certificate_expires_us = CAST(strftime('%s',
            json_extract(NEW.certificate, '$.expires_on')) AS INTEGER) * 1000000
    WHERE id = NEW.id;
END;

CREATE TRIGGER custom_hostnames_list_facts_update
AFTER UPDATE OF hostname, ssl_options, certificate ON custom_hostnames
BEGIN
    UPDATE custom_hostnames SET
        ssl_method = json_extract(NEW.ssl_options, '$.method'),
        certificate_authority = json_extract(NEW.ssl_options, '$.certificate_authority'),
        wildcard = (NEW.hostname LIKE '*.%'
            OR COALESCE(json_extract(NEW.ssl_options, '$.wildcard'), 0) = 1),
        certificate_expires_us = CAST(strftime('%s',
            json_extract(NEW.certificate, '$.expires_on')) AS INTEGER) * 1000000
    WHERE id = NEW.id;
END;

CREATE TRIGGER custom_certificates_list_facts_insert AFTER INSERT ON custom_certificates
BEGIN
    UPDATE custom_certificates SET expires_on_us = CAST(strftime('%s',
        json_extract(NEW.certificate, '$.expires_on')) AS INTEGER) * 1000000
    WHERE id = NEW.id;
END;

CREATE TRIGGER custom_certificates_list_facts_update
AFTER UPDATE OF certificate ON custom_certificates
BEGIN
    UPDATE custom_certificates SET expires_on_us = CAST(strftime('%s',
        json_extract(NEW.certificate, '$.expires_on')) AS INTEGER) * 1000000
    WHERE id = NEW.id;
END;

UPDATE custom_hostnames SET ssl_options = ssl_options;
UPDATE custom_certificates SET certificate = certificate;

-- A status filter reads the certificate's expiry of the zone's rows.
CREATE INDEX custom_hostnames_by_expiry ON custom_hostnames (zone_id, certificate_expires_us);
CREATE INDEX custom_certificates_by_expiry ON custom_certificates (zone_id, expires_on_us);
