-- A small demo schema whose changes the Debezium source connector captures through pgoutput.
CREATE SCHEMA IF NOT EXISTS demo;

CREATE TABLE IF NOT EXISTS demo.orders (
    order_id    serial PRIMARY KEY,
    customer_id text NOT NULL,
    status      text NOT NULL DEFAULT 'new',
    amount      numeric(10, 2) NOT NULL,
    items       jsonb NOT NULL DEFAULT '[]',
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Old values on UPDATE and DELETE events, not only the key.
ALTER TABLE demo.orders REPLICA IDENTITY FULL;

-- Seed rows once: the file may run again (the AWS target reruns it when it changes).
INSERT INTO demo.orders (customer_id, status, amount, items)
SELECT * FROM (VALUES
    ('ALFKI', 'new', 42.50, '[{"product": "Chai", "quantity": 5}]'::jsonb),
    ('BONAP', 'shipped', 120.00, '[{"product": "Tofu", "quantity": 10}]'::jsonb),
    ('QUICK', 'new', 18.75, '[{"product": "Ikura", "quantity": 1}]'::jsonb)
) AS seed (customer_id, status, amount, items)
WHERE NOT EXISTS (SELECT 1 FROM demo.orders);

-- The source's heartbeat writes here (heartbeat.action.query): on a database where other
-- tables change (the registry's) while demo.orders is idle, the replication slot would otherwise
-- never confirm a newer position and WAL would grow without bound (Debezium's PostgreSQL
-- connector documentation, "WAL disk space consumption"). It is in the publication so that
-- its changes reach the slot.
CREATE TABLE IF NOT EXISTS demo.heartbeat (
    id   integer PRIMARY KEY,
    beat timestamptz NOT NULL DEFAULT now()
);
INSERT INTO demo.heartbeat (id) VALUES (1) ON CONFLICT (id) DO NOTHING;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = 'cdc_publication') THEN
        CREATE PUBLICATION cdc_publication FOR TABLE demo.orders, demo.heartbeat;
    ELSIF NOT EXISTS (SELECT 1 FROM pg_publication_tables
                      WHERE pubname = 'cdc_publication' AND schemaname = 'demo' AND tablename = 'heartbeat') THEN
        ALTER PUBLICATION cdc_publication ADD TABLE demo.heartbeat;
    END IF;
END
$$;
