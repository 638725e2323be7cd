-- keymint SQLite schema, step 2 (change-log). Apply the steps in order.
CREATE TABLE IF NOT EXISTS "keymint_api_keys_changes" (
  "seq" INTEGER PRIMARY KEY AUTOINCREMENT,
  "key_id" TEXT NOT NULL,
  "at" INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS "keymint_api_keys_changes_at" ON "keymint_api_keys_changes" ("at");
CREATE TRIGGER IF NOT EXISTS "keymint_api_keys_changes_update"
  AFTER UPDATE OF "revoked_at", "role", "expires_at", "scope", "name", "metadata" ON "keymint_api_keys"
  FOR EACH ROW WHEN OLD."revoked_at" IS NOT NEW."revoked_at" OR OLD."role" IS NOT NEW."role" OR OLD."expires_at" IS NOT NEW."expires_at" OR OLD."scope" IS NOT NEW."scope" OR OLD."name" IS NOT NEW."name" OR OLD."metadata" IS NOT NEW."metadata"
BEGIN
  INSERT INTO "keymint_api_keys_changes" ("key_id", "at") VALUES (OLD."id", CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
  DELETE FROM "keymint_api_keys_changes" WHERE "at" < CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) - 300000;
END;
CREATE TRIGGER IF NOT EXISTS "keymint_api_keys_changes_delete" AFTER DELETE ON "keymint_api_keys" FOR EACH ROW
BEGIN
  INSERT INTO "keymint_api_keys_changes" ("key_id", "at") VALUES (OLD."id", CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
  DELETE FROM "keymint_api_keys_changes" WHERE "at" < CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) - 300000;
END;
