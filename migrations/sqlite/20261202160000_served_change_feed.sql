-- Nothing to do: the Postgres migration of this number adds the change feed's triggers, and a
-- SQLite database has one edgecert instance, whose edge hears of its own writes directly.
-- Kept so both backends count the same migrations.
SELECT 1;
