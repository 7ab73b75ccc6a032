-- Statuses forced through the test controls (`/_edgecert/`), shown on top of whatever status
-- edgecert computes for the hostname. Kept apart from custom_hostnames so computed statuses
-- (the ACME lifecycle) and forced ones never overwrite each other; a NULL column shows the
-- computed value. Dropped with the hostname.
CREATE TABLE custom_hostname_status_overrides (
    hostname_id           BLOB PRIMARY KEY REFERENCES custom_hostnames (id) ON DELETE CASCADE,
    zone_id               TEXT NOT NULL,
    status                TEXT,
    ssl_status            TEXT,
    -- JSON arrays of strings: the messages to show.
    verification_errors   TEXT,
    ssl_validation_errors TEXT,
    updated_at_us         BIGINT NOT NULL
);
CREATE INDEX custom_hostname_status_overrides_zone ON custom_hostname_status_overrides (zone_id);
