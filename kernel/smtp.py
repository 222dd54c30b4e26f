"""Settings of the reminder e-mails: the SMTP server (`DUECAST_SMTP_*`) and the job's knobs
(`DUECAST_REMINDERS_*`).

`ReminderSettings` is the group `Settings.reminders`; it holds `SmtpSettings` as `smtp`.
Both read the environment when built, like `kernel.policy.PolicySettings`, and refuse
unusable values at start-up.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ReminderSettings", "SmtpSettings"]


class SmtpSettings(BaseSettings):
    """The mail server reminders go through; each field is `DUECAST_SMTP_<FIELD>`."""

    model_config = SettingsConfigDict(
        env_prefix="DUECAST_SMTP_", frozen=True, extra="ignore", populate_by_name=True
    )

    host: str = Field(default="", description="SMTP server host name; empty: no e-mail is sent.")
    port: int = Field(
        default=25, ge=1, le=65535, description="SMTP port (587 with STARTTLS, 465 with SSL)."
    )
    username: str = Field(default="", description="Login name; empty: no login.")
    password: SecretStr = Field(default=SecretStr(""), description="Login password.")
    from_address: str = Field(
        default="",
        # `from` is a Python keyword: the field has another name, the variable the short one.
        validation_alias=AliasChoices("from_address", "DUECAST_SMTP_FROM"),
        description="Sender of the reminders (DUECAST_SMTP_FROM), e.g. "
        "'Acme Receivables <ar@acme.example>'.",
    )
    starttls: bool = Field(default=False, description="Upgrade the connection with STARTTLS.")
    ssl: bool = Field(default=False, description="Connect over TLS from the start (SMTPS).")
    timeout: float = Field(
        default=30.0, gt=0, le=600, description="Seconds to wait for the server on each step."
    )

    @model_validator(mode="after")
    def _one_tls_mode(self) -> SmtpSettings:
        if self.starttls and self.ssl:
            raise ValueError(
                "DUECAST_SMTP_STARTTLS and DUECAST_SMTP_SSL exclude each other: set one "
                "(STARTTLS on port 587, SSL on port 465)"
            )
        return self

    @property
    def configured(self) -> bool:
        """Whether a host and a sender are set (the least a send needs)."""
        return bool(self.host and self.from_address)


class ReminderSettings(BaseSettings):
    """The automated reminder job; each field is `DUECAST_REMINDERS_<FIELD>`.

    Delay before attempt k+1 of a mail = `backoff_seconds` × 2^(k−1). A run waits for a
    delay up to `max_wait_seconds`; a longer one is left to a later run (status
    "retrying"). After `max_attempts` attempts the mail is given up ("failed").
    """

    model_config = SettingsConfigDict(env_prefix="DUECAST_REMINDERS_", frozen=True, extra="ignore")

    max_attempts: int = Field(
        default=6, ge=1, le=30, description="Attempts per mail before it is given up."
    )
    backoff_seconds: float = Field(
        default=30.0, ge=0, description="Delay before the 2nd attempt; doubles with each one."
    )
    max_wait_seconds: float = Field(
        default=120.0,
        ge=0,
        description="Longest delay a run waits for before retrying itself; longer delays "
        "are left to the next run.",
    )
    send_at: str = Field(
        default="",
        description="Daily time (HH:MM, UTC) the API's in-process schedule sends at; empty: "
        "off (use cron and `duecast remind --send`).",
    )
    templates_dir: Path | None = Field(
        default=None,
        description="Folder of your own templates (<step>.<language>.txt), searched before "
        "the built-in ones.",
    )
    smtp: SmtpSettings = Field(
        default_factory=SmtpSettings, description="The SMTP server (DUECAST_SMTP_*)."
    )

    @field_validator("send_at", mode="after")
    @classmethod
    def _time_of_day(cls, value: str) -> str:
        value = value.strip()
        if value:
            try:
                dt.time.fromisoformat(value)
            except ValueError:
                raise ValueError(
                    f"DUECAST_REMINDERS_SEND_AT {value!r} must be a time of day HH:MM (UTC), "
                    "e.g. 08:00, or empty for no schedule"
                ) from None
        return value

    @property
    def send_time(self) -> dt.time | None:
        """The daily send time (UTC), or None when the schedule is off."""
        return dt.time.fromisoformat(self.send_at).replace(tzinfo=dt.UTC) if self.send_at else None

    def backoff(self, attempts: int) -> float:
        """Seconds to wait after `attempts` failed attempts (≥ 1) before the next."""
        return float(self.backoff_seconds * 2 ** max(attempts - 1, 0))
