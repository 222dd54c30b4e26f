"""Sending one e-mail over SMTP, and telling a bounce from a failure worth retrying.

A bounce is the server refusing the recipient or the message for good (a 5xx reply to
RCPT or DATA): retrying cannot help, so the mail fails at once. Everything else (4xx
replies, a refused or dropped connection, a timeout, a login or sender refused, which
a fixed setting cures) is retried with backoff.
"""

from __future__ import annotations

import datetime as dt
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

from kernel.smtp import SmtpSettings
from serving.reminders.render import RenderedMail

__all__ = ["SendError", "build_message", "send_message"]


class SendError(Exception):
    """A send that failed: `permanent` (a bounce) or worth retrying, and why.

    Internal to the reminder job, which records it on the mail's rows and reports it.
    """

    def __init__(self, permanent: bool, reason: str) -> None:
        super().__init__(reason)
        self.permanent = permanent
        self.reason = reason


def build_message(
    mail: RenderedMail, *, sender: str, recipient: str, now: dt.datetime
) -> EmailMessage:
    """The plain-text message of `mail` from `sender` to `recipient`."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = mail.subject
    message["Date"] = format_datetime(now)
    domain = parseaddr(sender)[1].rpartition("@")[2] or None
    message["Message-ID"] = make_msgid(domain=domain)
    # RFC 3834: out-of-office replies should not answer an automatic message.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(mail.body)
    return message


def _connect(smtp: SmtpSettings) -> smtplib.SMTP:
    if smtp.ssl:
        return smtplib.SMTP_SSL(
            smtp.host, smtp.port, timeout=smtp.timeout, context=ssl.create_default_context()
        )
    client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
    if smtp.starttls:
        client.starttls(context=ssl.create_default_context())
    return client


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)


def _classify(exc: Exception) -> SendError:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        replies = "; ".join(f"{code} {_text(reply)}" for code, reply in exc.recipients.values())
        return SendError(all(c >= 500 for c in codes), f"recipient refused: {replies}")
    if isinstance(exc, smtplib.SMTPDataError):
        return SendError(
            exc.smtp_code >= 500, f"message refused: {exc.smtp_code} {_text(exc.smtp_error)}"
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        return SendError(False, f"{type(exc).__name__}: {exc.smtp_code} {_text(exc.smtp_error)}")
    return SendError(False, f"{type(exc).__name__}: {exc}")


def send_message(smtp: SmtpSettings, message: EmailMessage) -> None:
    """Send `message` through the server of `smtp` (one connection per message).

    Raises:
        SendError: the server refused it (`permanent`: a bounce) or could not be reached.
    """
    try:
        with _connect(smtp) as client:
            if smtp.username:
                client.login(smtp.username, smtp.password.get_secret_value())
            client.send_message(message)
    except (smtplib.SMTPException, OSError) as exc:
        raise _classify(exc) from exc
