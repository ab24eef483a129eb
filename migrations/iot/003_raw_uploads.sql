-- Every raw file a device uploads lands in the object store; this row records where, and whether
-- the ingestion app has turned it into samples.
CREATE TABLE raw_uploads (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id    bigint NOT NULL REFERENCES devices (id),
    object_path  text NOT NULL UNIQUE,
    byte_size    integer NOT NULL CHECK (byte_size >= 0),
    received_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    handled      boolean NOT NULL DEFAULT false
);
CREATE INDEX raw_uploads_device_id_idx ON raw_uploads (device_id);
CREATE INDEX raw_uploads_unhandled_idx ON raw_uploads (received_at) WHERE NOT handled;
