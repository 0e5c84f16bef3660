"""The other side of the email channel's tests: Python's imaplib against the
test Dovecot (scripts/test-services start imap).

  imap_tool.py append USER FOLDER [FILE...]   APPEND each file (stdin when none)
  imap_tool.py list USER FOLDER               JSON [{uid, message_id, flags}]
  imap_tool.py create USER FOLDER
  imap_tool.py rebuild USER FOLDER            recreate FOLDER with a new
                                              UIDVALIDITY, copying its mails
                                              (flags kept) newest first
  imap_tool.py uidvalidity USER FOLDER

Server and password come from INTAKE_TEST_IMAP / INTAKE_TEST_IMAP_PASSWORD.
"""

import email
import imaplib
import json
import os
import re
import sys


def connect(user):
    host, port = os.environ["INTAKE_TEST_IMAP"].split(":")
    conn = imaplib.IMAP4(host, int(port))
    conn.login(user, os.environ["INTAKE_TEST_IMAP_PASSWORD"])
    return conn


def check(result):
    typ, data = result
    if typ != "OK":
        raise SystemExit(f"imap: {typ} {data!r}")
    return data


def quoted(folder):
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def ensure(conn, folder):
    if folder.upper() != "INBOX":
        conn.create(quoted(folder))


def cmd_append(conn, folder, files):
    ensure(conn, folder)
    blobs = [open(f, "rb").read() for f in files] if files else [sys.stdin.buffer.read()]
    for raw in blobs:
        check(conn.append(quoted(folder), None, None, raw))


def cmd_list(conn, folder):
    ensure(conn, folder)
    check(conn.select(quoted(folder), readonly=True))
    uids = check(conn.uid("SEARCH", None, "ALL"))[0].split()
    out = []
    for uid in uids:
        data = check(conn.uid("FETCH", uid, "(FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])"))
        meta = data[0][0].decode()
        header = email.message_from_bytes(data[0][1])
        flags = re.search(r"FLAGS \(([^)]*)\)", meta)
        out.append({
            "uid": int(uid),
            "message_id": (header.get("Message-ID") or "").strip(),
            "flags": flags.group(1).split() if flags else [],
        })
    print(json.dumps(out))


def cmd_uidvalidity(conn, folder):
    ensure(conn, folder)
    data = check(conn.status(quoted(folder), "(UIDVALIDITY)"))[0].decode()
    print(re.search(r"UIDVALIDITY (\d+)", data).group(1))


def cmd_rebuild(conn, folder):
    old = folder + "-old"
    check(conn.rename(quoted(folder), quoted(old)))
    check(conn.create(quoted(folder)))
    check(conn.select(quoted(old)))
    uids = check(conn.uid("SEARCH", None, "ALL"))[0].split()
    for uid in reversed(uids):
        check(conn.uid("COPY", uid, quoted(folder)))
    conn.close()
    check(conn.delete(quoted(old)))


def main():
    command, user, folder, *rest = sys.argv[1:]
    conn = connect(user)
    try:
        if command == "append":
            cmd_append(conn, folder, rest)
        elif command == "list":
            cmd_list(conn, folder)
        elif command == "create":
            ensure(conn, folder)
        elif command == "rebuild":
            cmd_rebuild(conn, folder)
        elif command == "uidvalidity":
            cmd_uidvalidity(conn, folder)
        else:
            raise SystemExit(f"unknown command {command}")
    finally:
        try:
            conn.logout()
        except Exception:
            pass


if __name__ == "__main__":
    main()
