"""SMTP sink for intake's tests: aiosmtpd accepting mail into a Maildir.

Usage: sink.py --port N --maildir DIR --user U --password P [--cert C --key K]

AUTH PLAIN/LOGIN with the one user is required before MAIL FROM; with a
certificate, STARTTLS is offered too (not required). Every accepted message
lands in DIR/new with X-MailFrom / X-RcptTo headers (aiosmtpd's Mailbox
handler). Binds 127.0.0.1 only. Stops on SIGTERM/SIGINT.
"""

import argparse
import signal
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult, LoginPassword


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--maildir", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    args = parser.parse_args()

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
        Mailbox(args.maildir),
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
