-- One sensor reading; the jsonb payload keeps what the fixed columns do not.
CREATE TABLE samples (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hive_id        bigint NOT NULL REFERENCES hives (id),
    device_id      bigint NOT NULL REFERENCES devices (id),
    upload_id      bigint NOT NULL REFERENCES raw_uploads (id),
    sampled_at     timestamptz NOT NULL,
    temperature_c  double precision CHECK (temperature_c BETWEEN -60 AND 80),
    humidity_pct   real CHECK (humidity_pct BETWEEN 0 AND 100),
    weight_kg      numeric(7,3) CHECK (weight_kg >= 0),
    battery_v      real CHECK (battery_v >= 0),
    sound_db       real,
    payload        jsonb NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX samples_hive_id_sampled_at_idx ON samples (hive_id, sampled_at);
CREATE INDEX samples_device_id_idx ON samples (device_id);
CREATE INDEX samples_upload_id_idx ON samples (upload_id);
