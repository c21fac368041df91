-- A small demo schema whose changes the Debezium source connector captures through pgoutput.
CREATE SCHEMA IF NOT EXISTS demo;

CREATE TABLE demo.orders (
    order_id    serial PRIMARY KEY,
    customer_id text NOT NULL,
    status      text NOT NULL DEFAULT 'new',
    amount      numeric(10, 2) NOT NULL,
    items       jsonb NOT NULL DEFAULT '[]',
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Old values on UPDATE and DELETE events, not only the key.
ALTER TABLE demo.orders REPLICA IDENTITY FULL;

INSERT INTO demo.orders (customer_id, status, amount, items) VALUES
    ('ALFKI', 'new', 42.50, '[{"product": "Chai", "quantity": 5}]'),
    ('BONAP', 'shipped', 120.00, '[{"product": "Tofu", "quantity": 10}]'),
    ('QUICK', 'new', 18.75, '[{"product": "Ikura", "quantity": 1}]');

CREATE PUBLICATION cdc_publication FOR TABLE demo.orders;
