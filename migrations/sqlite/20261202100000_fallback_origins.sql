-- The zone's fallback origin for custom hostnames: at most one per zone. `origin` is a DNS
-- name, optionally with a port (`localhost:3000`) for local use.
CREATE TABLE fallback_origins (
    zone_id       TEXT PRIMARY KEY,
    origin        TEXT NOT NULL,
    created_at_us BIGINT NOT NULL,
    updated_at_us BIGINT NOT NULL
);
