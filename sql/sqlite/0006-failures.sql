-- keymint SQLite schema, step 6 (failures). Apply the steps in order.
CREATE TABLE IF NOT EXISTS "keymint_api_keys_failures" (
  "id" TEXT NOT NULL PRIMARY KEY,
  "window_start" INTEGER NOT NULL,
  "reset_at" INTEGER NOT NULL,
  "failures" INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS "keymint_api_keys_failures_reset_at" ON "keymint_api_keys_failures" ("reset_at");
CREATE TRIGGER IF NOT EXISTS "keymint_api_keys_failures_delete" AFTER DELETE ON "keymint_api_keys" FOR EACH ROW
BEGIN
  DELETE FROM "keymint_api_keys_failures" WHERE "id" = OLD."id";
END;
