"""Talking to the test Dovecot as another mail client would: the company's mail server
delivering into a mailbox, a person reading it."""

from __future__ import annotations

from imapclient import IMAPClient

from tests.support.dovecot import Dovecot

USERS = {"sales": "sales-secret", "support": "support-secret"}


def client(dovecot: Dovecot, user: str = "sales") -> IMAPClient:
    """Another mail client (the company's mail server delivering, a person reading)."""
    imap = IMAPClient("127.0.0.1", dovecot.port, ssl=False, timeout=10)
    imap.login(user, USERS[user])
    return imap


def append(dovecot: Dovecot, messages: list[bytes], folder: str = "INBOX",
           user: str = "sales") -> None:
    imap = client(dovecot, user)
    if not imap.folder_exists(folder):
        imap.create_folder(folder)
    for raw in messages:
        imap.append(folder, raw)
    imap.logout()
