-- The device-request replay guard's durable bound (device/request.rs): no
-- signed device request is accepted with an `iat` above `lease_until`, so
-- after the ephemeral store lost its remembered `jti`s, refusing every `iat`
-- up to this value refuses every request that could have been seen before.
-- One row; raised in steps of a few seconds, never lowered.
CREATE TABLE device_request_lease (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    lease_until  BIGINT NOT NULL
);
INSERT INTO device_request_lease (id, lease_until) VALUES (1, 0);
