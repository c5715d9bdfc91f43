"""The one settings object, built from the environment (prefix CRM_DEDUP_) once per process."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where the store and models live and how the API behaves; defaults suit the embedded setup."""

    model_config = SettingsConfigDict(env_prefix="CRM_DEDUP_", extra="ignore")

    db: Path = Field(default=Path("var/crm-dedup.duckdb"), description="DuckDB store file (CRM_DEDUP_DB)")
    models_dir: Path | None = Field(default=None, description="model directory; None = shipped defaults")
    jwt_secret: str | None = Field(
        default=None, description="the amoCRM integration's secret: verifies the widget's X-Auth-Token (HS256)")
    cors_origins: list[str] = Field(
        default_factory=list, description='origins allowed to call the API, e.g. ["https://acme.amocrm.ru"]')
    cors_origin_regex: str | None = Field(
        default=r"https://[a-z0-9-]+\.amocrm\.(ru|com)", description="origin pattern (the widget's amoCRM domain)")
    max_batch: int = Field(default=10_000, ge=1, description="records per batch upsert or check:batch")
    max_body_bytes: int = Field(default=50_000_000, ge=1_000, description="largest request body accepted")
    max_field_chars: int = Field(default=2_000, ge=10, description="longest string accepted in one field")

    @field_validator("db")
    @classmethod
    def _db_is_a_file(cls, value: Path) -> Path:
        if str(value) != ":memory:" and value.exists() and value.is_dir():
            raise ValueError(f"CRM_DEDUP_DB={value} is a directory; give a file path such as var/crm-dedup.duckdb")
        return value

    @field_validator("jwt_secret")
    @classmethod
    def _secret_is_strong(cls, value: str | None) -> str | None:
        if value is not None and (len(value) < 16 or value in {"changethis", "secret"}):
            raise ValueError("CRM_DEDUP_JWT_SECRET is too weak: use the integration's secret key (16+ characters)")
        return value
