-- Customers (beekeeping businesses) and their yards (apiary locations).
CREATE TABLE customers (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL,
    email       text UNIQUE,
    country     char(2) NOT NULL DEFAULT 'NZ',
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE yards (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id  bigint NOT NULL REFERENCES customers (id),
    name         text NOT NULL,
    latitude     double precision NOT NULL CHECK (latitude BETWEEN -90 AND 90),
    longitude    double precision NOT NULL CHECK (longitude BETWEEN -180 AND 180),
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (customer_id, name)
);
CREATE INDEX yards_customer_id_idx ON yards (customer_id);
