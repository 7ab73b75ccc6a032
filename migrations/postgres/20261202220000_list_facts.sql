-- Facts the custom hostname and custom certificate lists filter and sort by, kept in columns
-- beside the JSON they come from. A trigger keeps them true on every write (create, edit,
-- upload, ACME deployment, manual repair), so no write path can forget them; rows of earlier
-- releases get them from the UPDATE at the end, which runs the same trigger.
ALTER TABLE custom_hostnames
    ADD COLUMN ssl_method TEXT,
    ADD COLUMN certificate_authority TEXT,
    ADD COLUMN wildcard BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN certificate_expires_us BIGINT;

ALTER TABLE custom_certificates ADD COLUMN expires_on_us BIGINT;

-- Timestamps are RFC 3339 text in the stored JSON; *_us columns count microseconds.
CREATE FUNCTION edgecert_hostname_list_facts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.ssl_method := NEW.ssl_options::jsonb ->> 'method';
    NEW.certificate_authority := NEW.ssl_options::jsonb ->> 'certificate_authority';
    NEW.wildcard := NEW.hostname LIKE '*.%'
        OR COALESCE((NEW.ssl_options::jsonb ->> 'wildcard')::boolean, FALSE);
    NEW.certificate_expires_us := (EXTRACT(EPOCH FROM
        (NEW.certificate::jsonb ->> 'expires_on')::timestamptz) * 1000000)::bigint;
    RETURN NEW;
END
$$;

CREATE FUNCTION edgecert_certificate_list_facts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.expires_on_us := (EXTRACT(EPOCH FROM
        (NEW.certificate::jsonb ->> 'expires_on')::timestamptz) * 1000000)::bigint;
    RETURN NEW;
END
$$;

CREATE TRIGGER custom_hostnames_list_facts
    BEFORE INSERT OR UPDATE ON custom_hostnames
    FOR EACH ROW EXECUTE FUNCTION edgecert_hostname_list_facts();

CREATE TRIGGER custom_certificates_list_facts
    BEFORE INSERT OR UPDATE ON custom_certificates
    FOR EACH ROW EXECUTE FUNCTION edgecert_certificate_list_facts();

UPDATE custom_hostnames SET ssl_options = ssl_options;
UPDATE custom_certificates SET certificate = certificate;

-- A status filter reads the certificate's expiry of the zone's rows.
CREATE INDEX custom_hostnames_by_expiry ON custom_hostnames (zone_id, certificate_expires_us);
CREATE INDEX custom_certificates_by_expiry ON custom_certificates (zone_id, expires_on_us);
