"""Intakes (SMTP, IMAP, drop folder, files): archive durably, queue, only then let go."""
