-- Hives stand in yards; each carries one sensor device.
CREATE TABLE hives (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    yard_id      bigint NOT NULL REFERENCES yards (id),
    label        varchar(40) NOT NULL,
    installed_on date NOT NULL DEFAULT current_date,
    active       boolean NOT NULL DEFAULT true
);
CREATE INDEX hives_yard_id_idx ON hives (yard_id);

CREATE TABLE devices (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hive_id       bigint NOT NULL REFERENCES hives (id),
    serial        text NOT NULL UNIQUE,
    firmware      varchar(20) NOT NULL,
    registered_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX devices_hive_id_idx ON devices (hive_id);
