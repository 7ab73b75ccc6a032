-- Tells every edgecert instance on this database that what the edge serves may have changed.
-- A trigger rather than a NOTIFY sent by each write: NOTIFY is transactional, so it reaches
-- the listeners only if the write commits; it covers every statement that touches these
-- tables, writes added later and manual repairs included; and Postgres folds identical
-- notifications of one transaction into one. The channel name is `store::feed::CHANNEL`.
CREATE FUNCTION edgecert_served_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('edgecert_served', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER custom_hostnames_served_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON custom_hostnames
    FOR EACH STATEMENT EXECUTE FUNCTION edgecert_served_changed();

CREATE TRIGGER custom_certificates_served_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON custom_certificates
    FOR EACH STATEMENT EXECUTE FUNCTION edgecert_served_changed();

CREATE TRIGGER fallback_origins_served_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON fallback_origins
    FOR EACH STATEMENT EXECUTE FUNCTION edgecert_served_changed();
