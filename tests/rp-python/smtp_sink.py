#!/usr/bin/env python3
"""A real SMTP server (aiosmtpd) that stores what it receives, for the tests.

The notification tests deliver mail to it through lettre, so SMTP is tested
against a real server implementation instead of a mock.

Usage (normally through tests/scripts/smtp-sink.sh, which prepares the venv):

    smtp_sink.py --dir DIR [--starttls] [--auth LOGIN:PASSWORD]

    --dir DIR       where received messages are written (created if missing)
    --starttls      generate a self-signed certificate for 127.0.0.1 (written to
                    DIR/cert.pem, so the client can trust it) and require STARTTLS
                    before MAIL
    --auth L:P      require AUTH (PLAIN or LOGIN) with this login and password

The server listens on a free port of 127.0.0.1 and prints one line
`READY <port>` on stdout once it accepts connections. It stops when its
standard input closes (the test process exited) or on SIGTERM.

Every message received is stored as DIR/<n>.eml (raw bytes, n = 1, 2, ...)
and then DIR/<n>.json, written atomically, holding what the server and
Python's `email` parser saw:
    {"mail_from", "rcpt_tos", "tls": bool, "auth_login": str|null,
     "to", "from", "subject" (decoded), "content_type",
     "text" (decoded text/plain body), "html" (decoded text/html body or null)}

A recipient whose local part starts with "reject" is refused with
`550 5.1.1 mailbox unavailable`, so tests can check permanent refusals.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import email
import email.policy
import ipaddress
import json
import os
import signal
import ssl
import sys
import tempfile

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True)
    parser.add_argument("--starttls", action="store_true")
    parser.add_argument("--auth", default=None, metavar="LOGIN:PASSWORD")
    return parser.parse_args()


def self_signed_context(directory: str) -> ssl.SSLContext:
    """A server context with a fresh P-256 certificate for 127.0.0.1 / localhost."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.DNSName("localhost"),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    cert_path = os.path.join(directory, "cert.pem")
    key_path = os.path.join(directory, "key.pem")
    with open(key_path, "wb") as f:
        f.write(key_pem)
    write_atomically(cert_path, cert_pem)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return context


def write_atomically(path: str, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


class Sink:
    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.split("@", 1)[0].lower().startswith("reject"):
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        n = self.count
        raw = envelope.original_content or b""
        write_atomically(os.path.join(self.directory, f"{n}.eml"), raw)
        message = email.message_from_bytes(raw, policy=email.policy.default)
        text = message.get_body(preferencelist=("plain",))
        html = message.get_body(preferencelist=("html",))
        auth = session.auth_data
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "tls": session.ssl is not None,
            "auth_login": auth.login.decode() if isinstance(auth, LoginPassword) else None,
            "to": str(message["To"]),
            "from": str(message["From"]),
            "subject": str(message["Subject"]),
            "content_type": message.get_content_type(),
            "text": text.get_content() if text is not None else None,
            "html": html.get_content() if html is not None else None,
        }
        write_atomically(
            os.path.join(self.directory, f"{n}.json"),
            json.dumps(record, ensure_ascii=False).encode(),
        )
        return "250 Message accepted for delivery"


def authenticator(expected: tuple[bytes, bytes]):
    def check(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login,
            auth_data.password,
        ) == expected
        if ok:
            return AuthResult(success=True, auth_data=auth_data)
        # handled=False: aiosmtpd itself answers 535 5.7.8.
        return AuthResult(success=False, handled=False)

    return check


async def main() -> None:
    args = parse_args()
    os.makedirs(args.dir, exist_ok=True)
    context = self_signed_context(args.dir) if args.starttls else None
    expected = None
    if args.auth is not None:
        login, _, password = args.auth.partition(":")
        expected = (login.encode(), password.encode())
    handler = Sink(args.dir)
    loop = asyncio.get_running_loop()

    def factory() -> SMTP:
        return SMTP(
            handler,
            hostname="sink.localhost",
            tls_context=context,
            require_starttls=context is not None,
            authenticator=authenticator(expected) if expected else None,
            auth_required=expected is not None,
            # Without --starttls the tests use AUTH over plain TCP on loopback.
            auth_require_tls=context is not None,
            loop=loop,
        )

    server = await loop.create_server(factory, host="127.0.0.1", port=0)
    port = server.sockets[0].getsockname()[1]
    print(f"READY {port}", flush=True)

    stop = loop.create_future()

    def finish() -> None:
        if not stop.done():
            stop.set_result(None)

    loop.add_signal_handler(signal.SIGTERM, finish)
    loop.add_signal_handler(signal.SIGINT, finish)

    def on_stdin() -> None:
        if not os.read(sys.stdin.fileno(), 4096):
            loop.remove_reader(sys.stdin.fileno())
            finish()

    loop.add_reader(sys.stdin.fileno(), on_stdin)
    await stop
    server.close()
    await server.wait_closed()


if __name__ == "__main__":
    asyncio.run(main())
