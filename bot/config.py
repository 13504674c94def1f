"""Settings from environment variables (prefix OPSTAP_) and a `.env` file."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AnyHttpUrl, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from flows.i18n import LANGUAGES


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

    @field_validator("telegram_api_url", "telegram_file_url")
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


def load_settings() -> Settings:
    """Reads the settings, turning validation errors into one clear line per variable."""
    try:
        return Settings()
    except ValidationError as error:
        first = error.errors()[0]
        variable = "OPSTAP_" + str(first["loc"][0]).upper() if first["loc"] else "OPSTAP_*"
        message = first["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{variable} is not valid: {message}") from None
