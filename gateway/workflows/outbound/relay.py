"""Handing composed messages to the configured smarthost with smtplib.

One connection serves a whole delivery run. Each message's outcome says whether a retry can
help (RFC 5321 §4.2.1: 4yz is transient, 5yz permanent); anything that goes wrong with the
connection itself (refused, timed out, TLS, credentials) is transient: it is about the relay
or our configuration, not the message, so the message waits for the next attempt.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING

from gateway.core.errors import ConfigError

if TYPE_CHECKING:
    from gateway.config import Settings


@dataclass(frozen=True)
class RelayResult:
    """What the relay said about one message."""

    ok: bool
    temporary: bool = False
    code: int | None = None
    reply: str = ""
    refused: dict[str, str] = field(default_factory=dict)


class Relay:
    """A lazily opened SMTP session to ``outbound.relay``; use as a context manager."""

    def __init__(self, settings: Settings) -> None:
        config = settings.config.outbound.relay
        if not config.host:
            raise ConfigError("outbound.relay.host is not set: name the smarthost that "
                              "outbound mail is handed to")
        self.settings = settings
        self.config = config
        self.client: smtplib.SMTP | None = None
        self.connect_error: RelayResult | None = None

    def __enter__(self) -> Relay:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        if self.client is not None:
            try:
                self.client.quit()
            except (smtplib.SMTPException, OSError):
                self.client.close()
            self.client = None

    def send(self, mail_from: str, recipients: list[str], raw: bytes) -> RelayResult:
        """Hand ``raw`` over unchanged; MAIL, RCPT and DATA one by one to record each reply."""
        if self.connect_error is not None:
            return self.connect_error  # the relay was unreachable a moment ago: do not wait again
        if self.client is None:
            try:
                self.client = self._connect()
            except (smtplib.SMTPException, OSError, ConfigError) as exc:
                self.connect_error = _connection_failure(exc)
                return self.connect_error
        try:
            return self._transaction(self.client, mail_from, recipients, raw)
        except smtplib.SMTPResponseException as exc:
            self._reset()
            return _reply(exc.smtp_code, exc.smtp_error)
        except (smtplib.SMTPException, OSError) as exc:
            self.client.close()
            self.client = None
            return _connection_failure(exc)

    def _transaction(self, client: smtplib.SMTP, mail_from: str, recipients: list[str],
                     raw: bytes) -> RelayResult:
        options = ["SMTPUTF8"] if not all(a.isascii() for a in [mail_from, *recipients]) else []
        code, text = client.mail(mail_from, options)
        if code != 250:
            self._reset()
            return _reply(code, text)
        accepted, refused = [], {}
        worst: tuple[int, bytes] | None = None
        for rcpt in recipients:
            code, text = client.rcpt(rcpt)
            if code in (250, 251):
                accepted.append(rcpt)
            else:
                refused[rcpt] = f"{code} {_decode(text)}"
                worst = (code, text) if worst is None or code > worst[0] else worst
        if not accepted:
            self._reset()
            assert worst is not None
            return _reply(*worst)
        code, text = client.data(raw)
        if code != 250:
            return _reply(code, text)
        return RelayResult(True, code=code, reply=f"{code} {_decode(text)}", refused=refused)

    def _connect(self) -> smtplib.SMTP:
        config = self.config
        ours = self.settings.config
        local = ours.smtp.hostname or ours.outbound.message_id_domain
        client: smtplib.SMTP
        if config.security == "tls":
            client = smtplib.SMTP_SSL(config.host, config.port, local_hostname=local or None,
                                      timeout=config.timeout_seconds, context=self._tls())
        else:
            client = smtplib.SMTP(config.host, config.port, local_hostname=local or None,
                                  timeout=config.timeout_seconds)
        try:
            client.ehlo()
            if config.security == "starttls":
                # RFC 3207: never fall back to plain text when STARTTLS was asked for.
                client.starttls(context=self._tls())
                client.ehlo()
            if config.user:
                client.login(config.user, self.settings.secret(
                    "outbound.relay", config.password_env, config.password_file))
        except BaseException:
            client.close()
            raise
        return client

    def _tls(self) -> ssl.SSLContext:
        cafile = self.settings.resolve(self.config.ca_file) if self.config.ca_file else None
        try:
            return ssl.create_default_context(cafile=cafile)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"outbound.relay.ca_file: cannot load {cafile} ({exc})") from exc

    def _reset(self) -> None:
        try:
            if self.client is not None:
                self.client.rset()
        except (smtplib.SMTPException, OSError):
            if self.client is not None:
                self.client.close()
            self.client = None


def _decode(text: bytes | str) -> str:
    value = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return " ".join(value.split())[:500]


def _reply(code: int, text: bytes | str) -> RelayResult:
    # 5yz is permanent: retrying the same message cannot help (RFC 5321 §4.2.1).
    return RelayResult(False, temporary=not 500 <= code < 600, code=code,
                       reply=f"{code} {_decode(text)}")


def _connection_failure(exc: BaseException) -> RelayResult:
    if isinstance(exc, smtplib.SMTPResponseException):  # a 421 greeting, a refused AUTH ...
        detail = f"{exc.smtp_code} {_decode(exc.smtp_error)}"
        return RelayResult(False, temporary=True, code=exc.smtp_code,
                           reply=f"relay unavailable: {type(exc).__name__}: {detail}"[:500])
    detail = " ".join(str(exc).split()) or type(exc).__name__
    return RelayResult(False, temporary=True,
                       reply=f"relay unavailable: {type(exc).__name__}: {detail}"[:500])
