-- Enrolment: identity documents, verification requests and review media.

-- The document used for proofing. The number is kept as a keyed hash (to
-- refuse a number already bound to a verified identity) and as a copy sealed
-- under the key-encryption key (for the clerk or reviewer).
CREATE TABLE documents (
    account_id     TEXT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    kind           TEXT NOT NULL,
    number_hash    TEXT NOT NULL,
    number_sealed  BYTEA NOT NULL,
    issued_on      TEXT NOT NULL,
    expires_on     TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);
CREATE INDEX documents_number_hash ON documents (number_hash);

-- A request to verify an identity, face to face (reference) or online
-- (photos + video, then review). Status: collecting (online, media not yet
-- complete), pending, verified, rejected, cancelled.
CREATE TABLE verification_requests (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    method      TEXT NOT NULL,
    reference   TEXT UNIQUE,
    status      TEXT NOT NULL,
    challenge   TEXT,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    submitted_at BIGINT,
    decided_at  BIGINT,
    decided_by  TEXT,
    office      TEXT,
    reason      TEXT
);
CREATE INDEX verification_requests_account ON verification_requests (account_id);
CREATE INDEX verification_requests_queue ON verification_requests (method, status, submitted_at);
-- At most one open request per account.
CREATE UNIQUE INDEX verification_requests_one_open ON verification_requests (account_id)
    WHERE status IN ('collecting', 'pending');

-- Document photos and the video of an online request, sealed.
CREATE TABLE review_media (
    request_id    TEXT NOT NULL REFERENCES verification_requests (id) ON DELETE CASCADE,
    kind          TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    size          BIGINT NOT NULL,
    sealed        BYTEA NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (request_id, kind)
);
