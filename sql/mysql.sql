-- keymint API keys for MySQL 8 and MariaDB 10.6+, schema version 4, as mysqlSchema() from
-- 'keymint/adapters/mysql' writes it (pass { table, database } there for other names): every
-- step of sql/mysql/ in order, and the table that records them. For a new database: run it
-- once (a second run stops at step 2's ALTER, whose columns exist); migrate() is idempotent.
CREATE TABLE IF NOT EXISTS `keymint_api_keys` (
  id                         VARBINARY(255)  NOT NULL,
  scope                      VARBINARY(760)  NOT NULL,
  name                       VARBINARY(760)  NOT NULL,
  role                       VARCHAR(64)     CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  secret_hash                VARBINARY(1024) NOT NULL,
  created_at                 DATETIME(3)     NOT NULL,
  expires_at                 DATETIME(3)     NULL,
  last_used_at               DATETIME(3)     NULL,
  revoked_at                 DATETIME(3)     NULL,
  metadata                   LONGTEXT        CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
  ttl_seconds                BIGINT          NULL,
  previous_secret_hash       VARBINARY(1024) NULL,
  previous_secret_expires_at DATETIME(3)     NULL,
  rotated_at                 DATETIME(3)     NULL,
  PRIMARY KEY (id),
  UNIQUE KEY `keymint_api_keys_scope_name` (scope, name),
  KEY `keymint_api_keys_expires_at` (expires_at)
) ENGINE=InnoDB ROW_FORMAT=DYNAMIC DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE IF NOT EXISTS `keymint_api_keys_changes` (
  seq        BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  key_id     VARBINARY(255)  NOT NULL,
  changed_at DATETIME(3)     NOT NULL,
  PRIMARY KEY (seq),
  KEY `keymint_api_keys_changes_at` (changed_at)
) ENGINE=InnoDB;
ALTER TABLE `keymint_api_keys`
  ADD COLUMN owner       VARBINARY(760) NULL,
  ADD COLUMN permissions LONGTEXT       CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
  ADD KEY `keymint_api_keys_scope_owner_name` (scope, owner, name);
CREATE TABLE IF NOT EXISTS `keymint_api_keys_failures` (
  id           VARBINARY(255) NOT NULL,
  window_start BIGINT         NOT NULL,
  reset_at     BIGINT         NOT NULL,
  failures     INT            NOT NULL,
  PRIMARY KEY (id),
  KEY `keymint_api_keys_failures_reset_at` (reset_at)
) ENGINE=InnoDB;
CREATE TABLE IF NOT EXISTS `keymint_api_keys_usage` (
  id             VARBINARY(255) NOT NULL,
  window_start   BIGINT         NULL,
  count          BIGINT         NOT NULL,
  credits_set    BIGINT         NULL,
  credits_period BIGINT         NULL,
  remaining      BIGINT         NULL,
  ok             TINYINT        NOT NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB;
ALTER TABLE `keymint_api_keys`
  ADD COLUMN limits LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL;
CREATE TABLE IF NOT EXISTS `keymint_api_keys_migrations` (
  version    INT         NOT NULL PRIMARY KEY,
  name       VARCHAR(64) NOT NULL,
  applied_at DATETIME(3) NOT NULL
) ENGINE=InnoDB;
INSERT IGNORE INTO `keymint_api_keys_migrations` (version, name, applied_at) VALUES (1, 'initial', UTC_TIMESTAMP(3));
INSERT IGNORE INTO `keymint_api_keys_migrations` (version, name, applied_at) VALUES (2, 'owners', UTC_TIMESTAMP(3));
INSERT IGNORE INTO `keymint_api_keys_migrations` (version, name, applied_at) VALUES (3, 'failures', UTC_TIMESTAMP(3));
INSERT IGNORE INTO `keymint_api_keys_migrations` (version, name, applied_at) VALUES (4, 'usage', UTC_TIMESTAMP(3));
