-- keymint MySQL / MariaDB schema, step 4 (usage). Apply the steps in order.
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
