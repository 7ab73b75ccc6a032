-- Same change as migrations/postgres. custom_csrs.created_at_us is already microseconds here;
-- only the never-queried SPKI hash goes.
DROP INDEX private_keys_spki_sha256;
ALTER TABLE private_keys DROP COLUMN spki_sha256;
ALTER TABLE key_pool DROP COLUMN spki_sha256;
