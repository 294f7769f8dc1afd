"""Decrypts Web Push messages (RFC 8291, aes128gcm) with http_ece, an
implementation independent of the server's, for tests/all/push.rs.

stdin: one JSON object {"private_key": b64url(d), "auth": b64url(16 bytes),
"bodies": [b64url(body), ...]}; stdout: one JSON line
{"plaintexts": [utf-8 text, ...]}.
"""

import base64
import json
import sys

import http_ece
from cryptography.hazmat.primitives.asymmetric import ec


def b64(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def main() -> None:
    request = json.load(sys.stdin)
    d = int.from_bytes(b64(request["private_key"]), "big")
    private_key = ec.derive_private_key(d, ec.SECP256R1())
    auth = b64(request["auth"])
    out = []
    for body in request["bodies"]:
        plaintext = http_ece.decrypt(
            b64(body),
            private_key=private_key,
            auth_secret=auth,
            version="aes128gcm",
        )
        out.append(plaintext.decode("utf-8"))
    print(json.dumps({"plaintexts": out}))


if __name__ == "__main__":
    main()
