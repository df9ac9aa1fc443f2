"""Delivery status notifications (RFC 3464) as a Postfix-like MTA writes them, and mailboxes
(Maildir, mbox) holding them, for the bounce tests. The real-world samples are in
tests/data/dsn/ (see its README)."""

from __future__ import annotations

import mailbox
from collections.abc import Iterable
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data" / "dsn"


def make_dsn(
    to: str,
    final_recipient: str,
    *,
    action: str = "failed",
    status: str = "5.1.1",
    diagnostic: str = "smtp; 550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown",
    message_id: str | None = "<20261207.dsn.1@mx.example.net>",
    original_recipient: str | None = None,
    return_path: str | None = None,
) -> bytes:
    """A multipart/report (report-type=delivery-status) sent to ``to`` about
    ``final_recipient``, with the returned message's headers (their Return-Path:
    ``return_path`` or ``to``)."""
    boundary = "B0UNDARY.1765090000/mx.example.net"
    mid = f"Message-Id: {message_id}\r\n" if message_id else ""
    original = f"Original-Recipient: rfc822;{original_recipient}\r\n" if original_recipient else ""
    lines = (
        "Return-Path: <>\r\n"
        f"Delivered-To: {to}\r\n"
        "Date: Mon,  7 Dec 2026 07:00:05 +0000 (UTC)\r\n"
        "From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"To: {to}\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status;\r\n boundary="{boundary}"\r\n'
        f"{mid}"
        "\r\n"
        "This is a MIME-encapsulated message.\r\n"
        "\r\n"
        f"--{boundary}\r\n"
        "Content-Description: Notification\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n"
        "\r\n"
        "This is the mail system at host mx.example.net.\r\n"
        "\r\n"
        f"<{final_recipient}>: {diagnostic.partition(';')[2].strip()}\r\n"
        "\r\n"
        f"--{boundary}\r\n"
        "Content-Description: Delivery report\r\n"
        "Content-Type: message/delivery-status\r\n"
        "\r\n"
        "Reporting-MTA: dns; mx.example.net\r\n"
        "X-Postfix-Queue-ID: 4F2A1C0001\r\n"
        "Arrival-Date: Mon,  7 Dec 2026 07:00:01 +0000 (UTC)\r\n"
        "\r\n"
        f"Final-Recipient: rfc822; {final_recipient}\r\n"
        f"{original}"
        f"Action: {action}\r\n"
        f"Status: {status}\r\n"
        "Remote-MTA: dns; mail.example.net\r\n"
        f"Diagnostic-Code: {diagnostic.format(rcpt=final_recipient)}\r\n"
        "\r\n"
        f"--{boundary}\r\n"
        "Content-Description: Undelivered Message Headers\r\n"
        "Content-Type: text/rfc822-headers\r\n"
        "\r\n"
        f"Return-Path: <{return_path or to}>\r\n"
        "From: AI & Africa digest <digest@news.example.org>\r\n"
        f"To: {final_recipient}\r\n"
        "Subject: AI & Africa - 30 November to 6 December 2026\r\n"
        "\r\n"
        f"--{boundary}--\r\n"
    )
    return lines.encode("ascii")


def write_maildir(path: Path, messages: Iterable[bytes]) -> Path:
    box = mailbox.Maildir(path, create=True)
    for data in messages:
        box.add(data)
    box.close()
    return path


def write_mbox(path: Path, messages: Iterable[bytes]) -> Path:
    box = mailbox.mbox(path, create=True)
    for data in messages:
        box.add(data)
    box.flush()
    box.close()
    return path


def sample(name: str) -> bytes:
    """One of the real DSNs of tests/data/dsn/."""
    return (DATA / name).read_bytes()
