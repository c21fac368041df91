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

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = 'cdc_publication') THEN
        CREATE PUBLICATION cdc_publication FOR TABLE demo.orders;
    END IF;
END
$$;
