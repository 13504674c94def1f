"""Settings from environment variables (prefix OPSTAP_) and a `.env` file."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AnyHttpUrl, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from flows.i18n import LANGUAGES

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigError(Exception):
    """A setting is missing or malformed. The message names the variable, never a secret."""


class Settings(BaseSettings):
    """All of Opstap's settings. See README.md for the table."""

    model_config = SettingsConfigDict(
        env_prefix="OPSTAP_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    telegram_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org/bot"
    telegram_file_url: str = "https://api.telegram.org/file/bot"
    database_url: str = "sqlite+aiosqlite:///data/opstap.db"
    data_dir: Path = Path("data")
    timezone: str = "Europe/Brussels"
    default_language: str = "nl"
    webhook_url: AnyHttpUrl | None = None
    webhook_secret: SecretStr | None = None
    listen: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    retention_months: int = Field(default=12, ge=1, le=120)
    nudge_holdout: float = Field(default=0.0, ge=0.0, le=0.5)
    whatsapp_token: SecretStr | None = None
    whatsapp_phone_id: str | None = None
    whatsapp_app_secret: SecretStr | None = None
    whatsapp_verify_token: SecretStr | None = None
    whatsapp_api_url: str = "https://graph.facebook.com/v21.0"
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return level

    transcription_model_dir: Path | None = None

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError("unknown time zone") from error
        return value

    @field_validator("default_language")
    @classmethod
    def _supported_language(cls, value: str) -> str:
        if value not in LANGUAGES:
            raise ValueError(f"must be one of {', '.join(LANGUAGES)}")
        return value

    @field_validator("transcription_model_dir")
    @classmethod
    def _model_present(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        if not value.is_dir():
            raise ValueError("no such directory (it holds a faster-whisper model)")
        if importlib.util.find_spec("faster_whisper") is None:
            raise ValueError("install faster-whisper first: pip install 'opstap[transcription]'")
        return value

    @field_validator("database_url")
    @classmethod
    def _async_database_url(cls, value: str) -> str:
        try:
            driver = make_url(value).drivername
        except ArgumentError as error:
            raise ValueError("not a database URL") from error
        if driver not in ("sqlite+aiosqlite", "postgresql+asyncpg"):
            raise ValueError("use sqlite+aiosqlite:///PATH or postgresql+asyncpg://...")
        return value

    @field_validator("telegram_api_url", "telegram_file_url", "whatsapp_api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    def token(self) -> str:
        """The bot token; raises ConfigError naming the variable when it is not set."""
        if self.telegram_token is None or not self.telegram_token.get_secret_value().strip():
            raise ConfigError(
                "OPSTAP_TELEGRAM_TOKEN is not set: get a token from @BotFather in Telegram "
                "(or use `opstap chat` to talk to Opstap in the terminal)."
            )
        return self.telegram_token.get_secret_value().strip()

    def secrets(self) -> list[str]:
        """Every secret value set (tokens, webhook and app secrets, the database password),
        to keep out of logs and error lines."""
        values = [make_url(self.database_url).password]
        for name, value in self:
            if isinstance(value, SecretStr):
                values.append(value.get_secret_value())
            elif name.endswith(("_token", "_secret")) and isinstance(value, str):
                values.append(value)
        return [str(v).strip() for v in values if v and str(v).strip()]

    @property
    def whatsapp_enabled(self) -> bool:
        """True when OPSTAP_WHATSAPP_TOKEN is set: `opstap run` serves WhatsApp too."""
        return self.whatsapp_token is not None and bool(
            self.whatsapp_token.get_secret_value().strip()
        )

    @property
    def telegram_enabled(self) -> bool:
        """True when OPSTAP_TELEGRAM_TOKEN is set."""
        return self.telegram_token is not None and bool(
            self.telegram_token.get_secret_value().strip()
        )

    def whatsapp(self) -> WhatsAppSettings:
        """The WhatsApp settings; raises ConfigError naming the first one missing."""
        if not self.whatsapp_enabled or self.whatsapp_token is None:
            raise ConfigError("OPSTAP_WHATSAPP_TOKEN is not set.")
        values: dict[str, str] = {}
        for name, value in (
            ("phone_id", self.whatsapp_phone_id),
            ("app_secret", self.whatsapp_app_secret),
            ("verify_token", self.whatsapp_verify_token),
        ):
            text = value.get_secret_value() if isinstance(value, SecretStr) else value
            if not text or not text.strip():
                raise ConfigError(
                    f"OPSTAP_WHATSAPP_{name.upper()} is not set: it is required with "
                    "OPSTAP_WHATSAPP_TOKEN (see docs/DEPLOYMENT.md, WhatsApp)."
                )
            values[name] = text.strip()
        return WhatsAppSettings(
            token=self.whatsapp_token.get_secret_value().strip(),
            api_url=self.whatsapp_api_url.rstrip("/"),
            **values,
        )


@dataclass(frozen=True, repr=False)
class WhatsAppSettings:
    """The WhatsApp Cloud API settings, checked. Its repr shows no secret."""

    token: str
    phone_id: str
    app_secret: str
    verify_token: str
    api_url: str

    def __repr__(self) -> str:
        return f"WhatsAppSettings(phone_id={self.phone_id!r}, api_url={self.api_url!r})"


def load_settings() -> Settings:
    """Reads the settings, turning validation errors into one clear line per variable."""
    try:
        return Settings()
    except ValidationError as error:
        first = error.errors()[0]
        variable = "OPSTAP_" + str(first["loc"][0]).upper() if first["loc"] else "OPSTAP_*"
        message = first["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{variable} is not valid: {message}") from None
