-- The delivery log is pruned by age (`WEBHOOK_DELIVERY_LOG_DAYS`): find
-- the old attempts without reading the whole log.
CREATE INDEX webhook_deliveries_attempted_at ON webhook_deliveries (attempted_at);
