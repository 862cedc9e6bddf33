-- Segment mode: one row per biz_tag. A segment fetch runs
--   UPDATE leaf_alloc SET max_id = LAST_INSERT_ID(max_id + step) ... WHERE biz_tag = ?
-- and hands out [max_id - step, max_id) from memory. max_id only grows.
CREATE TABLE IF NOT EXISTS leaf_alloc (
  biz_tag     VARCHAR(128) NOT NULL,
  max_id      BIGINT       NOT NULL DEFAULT 1,
  step        INT          NOT NULL,
  description VARCHAR(256) DEFAULT NULL,
  update_time TIMESTAMP    NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (biz_tag)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Snowflake mode: worker-id leases. A row is leased to owner/token until
-- expires_at (server UTC time); last_ts_ms is the highest timestamp the
-- holder may have issued (its lease horizon), checked by the next holder.
CREATE TABLE IF NOT EXISTS leaf_worker (
  namespace   VARCHAR(64)  NOT NULL,
  worker_id   INT          NOT NULL,
  owner       VARCHAR(255) NOT NULL,
  token       BIGINT       NOT NULL,
  expires_at  DATETIME(3)  NOT NULL,
  last_ts_ms  BIGINT       NOT NULL DEFAULT 0,
  heartbeats  BIGINT       NOT NULL DEFAULT 0,
  update_time TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (namespace, worker_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
