"""The one settings object, built from the environment (prefix CRM_DEDUP_) once per process."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where the store and models live; defaults suit the embedded setup under ./var."""

    model_config = SettingsConfigDict(env_prefix="CRM_DEDUP_", extra="ignore")

    db: Path = Field(default=Path("var/crm-dedup.duckdb"), description="DuckDB store file (CRM_DEDUP_DB)")
    models_dir: Path | None = Field(default=None, description="model directory; None = shipped defaults")

    @field_validator("db")
    @classmethod
    def _db_is_a_file(cls, value: Path) -> Path:
        if str(value) != ":memory:" and value.exists() and value.is_dir():
            raise ValueError(f"CRM_DEDUP_DB={value} is a directory; give a file path such as var/crm-dedup.duckdb")
        return value
