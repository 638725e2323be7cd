-- keymint MySQL / MariaDB schema, step 3 (failures). Apply the steps in order.
CREATE TABLE IF NOT EXISTS `keymint_api_keys_failures` (
  id           VARBINARY(255) NOT NULL,
  window_start BIGINT         NOT NULL,
  reset_at     BIGINT         NOT NULL,
  failures     INT            NOT NULL,
  PRIMARY KEY (id),
  KEY `keymint_api_keys_failures_reset_at` (reset_at)
) ENGINE=InnoDB;
