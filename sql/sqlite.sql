-- keymint schema, version 6, for SQLite 3.37+ (STRICT tables).
-- Times are epoch milliseconds; names sort as UTF-8 bytes, which is code point order.
CREATE TABLE IF NOT EXISTS "keymint_api_keys" (
  "id" TEXT NOT NULL PRIMARY KEY,
  "scope" TEXT NOT NULL,
  "name" TEXT NOT NULL,
  "role" TEXT NOT NULL,
  "secret_hash" TEXT NOT NULL,
  "created_at" INTEGER NOT NULL,
  "expires_at" INTEGER,
  "last_used_at" INTEGER,
  "revoked_at" INTEGER,
  "metadata" TEXT
) STRICT;
CREATE UNIQUE INDEX IF NOT EXISTS "keymint_api_keys_scope_name" ON "keymint_api_keys" ("scope", "name");
CREATE INDEX IF NOT EXISTS "keymint_api_keys_expires_at" ON "keymint_api_keys" ("expires_at")
  WHERE "expires_at" IS NOT NULL;
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
ALTER TABLE "keymint_api_keys" ADD COLUMN "ttl_seconds" INTEGER;
ALTER TABLE "keymint_api_keys" ADD COLUMN "previous_secret_hash" TEXT;
ALTER TABLE "keymint_api_keys" ADD COLUMN "previous_secret_expires_at" INTEGER;
ALTER TABLE "keymint_api_keys" ADD COLUMN "rotated_at" INTEGER;
DROP TRIGGER IF EXISTS "keymint_api_keys_changes_update";
CREATE TRIGGER IF NOT EXISTS "keymint_api_keys_changes_update"
  AFTER UPDATE OF "revoked_at", "role", "expires_at", "scope", "name", "metadata", "rotated_at", "previous_secret_expires_at" ON "keymint_api_keys"
  FOR EACH ROW WHEN OLD."revoked_at" IS NOT NEW."revoked_at" OR OLD."role" IS NOT NEW."role" OR OLD."expires_at" IS NOT NEW."expires_at" OR OLD."scope" IS NOT NEW."scope" OR OLD."name" IS NOT NEW."name" OR OLD."metadata" IS NOT NEW."metadata" OR OLD."rotated_at" IS NOT NEW."rotated_at" OR OLD."previous_secret_expires_at" IS NOT NEW."previous_secret_expires_at"
BEGIN
  INSERT INTO "keymint_api_keys_changes" ("key_id", "at") VALUES (OLD."id", CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
  DELETE FROM "keymint_api_keys_changes" WHERE "at" < CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) - 300000;
END;
CREATE TRIGGER IF NOT EXISTS "keymint_api_keys_changes_delete" AFTER DELETE ON "keymint_api_keys" FOR EACH ROW
BEGIN
  INSERT INTO "keymint_api_keys_changes" ("key_id", "at") VALUES (OLD."id", CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
  DELETE FROM "keymint_api_keys_changes" WHERE "at" < CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) - 300000;
END;
ALTER TABLE "keymint_api_keys" ADD COLUMN "owner" TEXT;
ALTER TABLE "keymint_api_keys" ADD COLUMN "permissions" TEXT;
CREATE INDEX IF NOT EXISTS "keymint_api_keys_scope_owner_name" ON "keymint_api_keys" ("scope", "owner", "name");
DROP TRIGGER IF EXISTS "keymint_api_keys_changes_update";
CREATE TRIGGER IF NOT EXISTS "keymint_api_keys_changes_update"
  AFTER UPDATE OF "revoked_at", "role", "expires_at", "scope", "name", "metadata", "rotated_at", "previous_secret_expires_at", "owner", "permissions" ON "keymint_api_keys"
  FOR EACH ROW WHEN OLD."revoked_at" IS NOT NEW."revoked_at" OR OLD."role" IS NOT NEW."role" OR OLD."expires_at" IS NOT NEW."expires_at" OR OLD."scope" IS NOT NEW."scope" OR OLD."name" IS NOT NEW."name" OR OLD."metadata" IS NOT NEW."metadata" OR OLD."rotated_at" IS NOT NEW."rotated_at" OR OLD."previous_secret_expires_at" IS NOT NEW."previous_secret_expires_at" OR OLD."owner" IS NOT NEW."owner" OR OLD."permissions" IS NOT NEW."permissions"
BEGIN
  INSERT INTO "keymint_api_keys_changes" ("key_id", "at") VALUES (OLD."id", CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
  DELETE FROM "keymint_api_keys_changes" WHERE "at" < CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) - 300000;
END;
CREATE TRIGGER IF NOT EXISTS "keymint_api_keys_changes_delete" AFTER DELETE ON "keymint_api_keys" FOR EACH ROW
BEGIN
  INSERT INTO "keymint_api_keys_changes" ("key_id", "at") VALUES (OLD."id", CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
  DELETE FROM "keymint_api_keys_changes" WHERE "at" < CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) - 300000;
END;
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
CREATE TABLE IF NOT EXISTS "keymint_api_keys_migrations" (
  "version" INTEGER PRIMARY KEY,
  "name" TEXT NOT NULL,
  "applied_at" INTEGER NOT NULL
) STRICT;
INSERT OR IGNORE INTO "keymint_api_keys_migrations" ("version", "name", "applied_at") VALUES (1, 'initial', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
INSERT OR IGNORE INTO "keymint_api_keys_migrations" ("version", "name", "applied_at") VALUES (2, 'change-log', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
INSERT OR IGNORE INTO "keymint_api_keys_migrations" ("version", "name", "applied_at") VALUES (3, 'rotation', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
INSERT OR IGNORE INTO "keymint_api_keys_migrations" ("version", "name", "applied_at") VALUES (4, 'owners', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
INSERT OR IGNORE INTO "keymint_api_keys_migrations" ("version", "name", "applied_at") VALUES (5, 'usage', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
INSERT OR IGNORE INTO "keymint_api_keys_migrations" ("version", "name", "applied_at") VALUES (6, 'failures', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
