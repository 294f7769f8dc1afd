-- Web Push (RFC 8030, VAPID RFC 8292, aes128gcm RFC 8291): push/ and
-- store/push.rs.
--
-- The VAPID key pairs. The private key (PKCS#8 DER of a P-256 key) is
-- sealed under the KEK with "vapid-key:{kid}" as associated data, like the
-- signing keys. One active key, used for new subscriptions; a rotated-out key
-- ("retired") keeps signing for the subscriptions made with it until the app
-- renews them with the new key.
CREATE TABLE vapid_keys (
    kid          TEXT PRIMARY KEY,
    state        TEXT NOT NULL,
    public_key   TEXT NOT NULL,
    private_key  BYTEA NOT NULL,
    created_at   BIGINT NOT NULL,
    retired_at   BIGINT
);
CREATE UNIQUE INDEX vapid_keys_one_active ON vapid_keys (state) WHERE state = 'active';

-- One push subscription per device (replaced when the app renews it,
-- deleted when the device is revoked or the push service answers 404/410).
-- endpoint is on an allowlisted push-service origin; p256dh (uncompressed
-- P-256 point) and auth (16 bytes) are base64url as the browser gives them.
CREATE TABLE push_subscriptions (
    device_id    TEXT PRIMARY KEY REFERENCES devices (id),
    account_id   TEXT NOT NULL,
    endpoint     TEXT NOT NULL,
    p256dh       TEXT NOT NULL,
    auth         TEXT NOT NULL,
    vapid_kid    TEXT NOT NULL REFERENCES vapid_keys (kid),
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX push_subscriptions_account ON push_subscriptions (account_id);
