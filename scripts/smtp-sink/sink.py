"""SMTP sink for intake's tests: aiosmtpd accepting mail into a Maildir.

Usage: sink.py --port N --maildir DIR --user U --password P [--cert C --key K]
               [--oauth2-key K]

AUTH PLAIN/LOGIN with the one user is required before MAIL FROM; with
--oauth2-key, AUTH XOAUTH2 is offered too and accepts an HS256 JWT signed
with that key whose `sub` is the `user=` of the exchange and which has not
expired (the way the test Dovecot's oauth2 passdb checks IMAP tokens). With a
certificate, STARTTLS is offered too (not required). Every accepted message
lands in DIR/new with X-MailFrom / X-RcptTo headers (aiosmtpd's Mailbox
handler). Binds 127.0.0.1 only. Stops on SIGTERM/SIGINT.
"""

import argparse
import base64
import hashlib
import hmac
import json
import signal
import ssl
import sys
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult, LoginPassword


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def valid_jwt(token: str, key: bytes, user: str) -> bool:
    """An HS256 JWT signed with `key`, for `user`, not expired."""
    try:
        header, payload, signature = token.split(".")
        expected = hmac.new(key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _b64url(signature)):
            return False
        if json.loads(_b64url(header)).get("alg") != "HS256":
            return False
        claims = json.loads(_b64url(payload))
    except (ValueError, TypeError):
        return False
    return claims.get("sub") == user and float(claims.get("exp", 0)) > time.time()


class SinkHandler(Mailbox):
    """aiosmtpd's Maildir handler, plus AUTH XOAUTH2 when given a key."""

    def __init__(self, maildir: str, oauth2_key: "bytes | None"):
        super().__init__(maildir)
        self.oauth2_key = oauth2_key

    async def auth_XOAUTH2(self, server, args):
        if self.oauth2_key is None:
            await server.push("504 5.5.4 Unrecognized authentication type")
            return AuthResult(success=False, handled=True)
        if len(args) < 2:
            blob = await server.challenge_auth("")
            if not isinstance(blob, bytes):
                return AuthResult(success=False)
        else:
            try:
                blob = base64.b64decode(args[1], validate=True)
            except ValueError:
                await server.push("501 5.5.2 Can't decode base64")
                return AuthResult(success=False, handled=True)
        fields = dict(
            part.split("=", 1) for part in blob.decode(errors="replace").split("\x01") if "=" in part
        )
        user = fields.get("user", "")
        token = fields.get("auth", "").removeprefix("Bearer ").strip()
        return AuthResult(success=valid_jwt(token, self.oauth2_key, user), handled=False)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--maildir", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--oauth2-key")
    args = parser.parse_args()
    oauth2_key = args.oauth2_key.encode() if args.oauth2_key else None

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == args.user
            and auth_data.password.decode() == args.password
        )
        # handled=False: aiosmtpd answers 535 itself (the default sends nothing).
        return AuthResult(success=ok, handled=False)

    tls_context = None
    if args.cert and args.key:
        tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls_context.load_cert_chain(args.cert, args.key)

    controller = Controller(
        SinkHandler(args.maildir, oauth2_key),
        hostname="127.0.0.1",
        port=args.port,
        authenticator=authenticator,
        auth_required=True,
        auth_require_tls=False,
        tls_context=tls_context,
        require_starttls=False,
    )
    controller.start()
    print(f"smtp sink listening on 127.0.0.1:{args.port}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
