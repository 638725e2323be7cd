-- keymint SQLite schema, step 5 (usage). Apply the steps in order.
ALTER TABLE "keymint_api_keys" ADD COLUMN "limits" TEXT;
CREATE TABLE IF NOT EXISTS "keymint_api_keys_usage" (
  "id" TEXT NOT NULL PRIMARY KEY,
  "window_start" INTEGER,
  "count" INTEGER NOT NULL,
  "credits_set" INTEGER,
  "credits_period" INTEGER,
  "remaining" INTEGER,
  "ok" INTEGER NOT NULL
) STRICT;
CREATE TRIGGER IF NOT EXISTS "keymint_api_keys_usage_delete" AFTER DELETE ON "keymint_api_keys" FOR EACH ROW
BEGIN
  DELETE FROM "keymint_api_keys_usage" WHERE "id" = OLD."id";
END;
DROP TRIGGER IF EXISTS "keymint_api_keys_changes_update";
CREATE TRIGGER IF NOT EXISTS "keymint_api_keys_changes_update"
  AFTER UPDATE OF "revoked_at", "role", "expires_at", "scope", "name", "metadata", "rotated_at", "previous_secret_expires_at", "owner", "permissions", "limits" ON "keymint_api_keys"
  FOR EACH ROW WHEN OLD."revoked_at" IS NOT NEW."revoked_at" OR OLD."role" IS NOT NEW."role" OR OLD."expires_at" IS NOT NEW."expires_at" OR OLD."scope" IS NOT NEW."scope" OR OLD."name" IS NOT NEW."name" OR OLD."metadata" IS NOT NEW."metadata" OR OLD."rotated_at" IS NOT NEW."rotated_at" OR OLD."previous_secret_expires_at" IS NOT NEW."previous_secret_expires_at" OR OLD."owner" IS NOT NEW."owner" OR OLD."permissions" IS NOT NEW."permissions" OR OLD."limits" IS NOT NEW."limits"
BEGIN
  INSERT INTO "keymint_api_keys_changes" ("key_id", "at") VALUES (OLD."id", CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
  DELETE FROM "keymint_api_keys_changes" WHERE "at" < CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) - 300000;
END;
CREATE TRIGGER IF NOT EXISTS "keymint_api_keys_changes_delete" AFTER DELETE ON "keymint_api_keys" FOR EACH ROW
BEGIN
  INSERT INTO "keymint_api_keys_changes" ("key_id", "at") VALUES (OLD."id", CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
  DELETE FROM "keymint_api_keys_changes" WHERE "at" < CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) - 300000;
END;
