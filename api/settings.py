"""The one settings object, built from the environment (prefix CRM_DEDUP_) once per process."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# The widget runs inside the account's amoCRM page, so the browser sends that page's origin.
AMOCRM_ORIGIN_REGEX = r"https://[a-z0-9-]+\.amocrm\.(ru|com)"


class Settings(BaseSettings):
    """Where the store and models live and how the API behaves; defaults suit the embedded setup."""

    model_config = SettingsConfigDict(env_prefix="CRM_DEDUP_", extra="ignore")

    db: Path = Field(default=Path("var/crm-dedup.duckdb"), description="DuckDB store file (CRM_DEDUP_DB)")
    models_dir: Path | None = Field(default=None, description="model directory; None = shipped defaults")
    jwt_secret: str | None = Field(
        default=None, description="the amoCRM integration's secret: verifies the widget's X-Auth-Token (HS256)")
    jwt_audience: str | None = Field(
        default=None, description="when set, a widget token's `aud` must equal it (amoCRM puts the integration's "
        "redirect URI base there); when unset, `aud` is not checked: the secret's signature proves the sender")
    jwt_max_lifetime_seconds: int = Field(
        default=3600, ge=1, description="longest a widget token may be valid (`exp` - `iat`, or `exp` - now without "
        "`iat`); a longer one is refused: a token cannot be revoked")
    admin_token: str | None = Field(
        default=None, description="turns on the admin API (/v1/admin: accounts and keys) for `Authorization: Bearer "
        "<admin token>`; 32+ characters; unset = the admin API answers 404")
    auth_fail_limit: int = Field(
        default=10, ge=0, description="failed authentications one client address may make within "
        "auth_fail_window_seconds before it gets 429; 0 = no limit")
    auth_fail_window_seconds: float = Field(default=60.0, gt=0, description="the window of auth_fail_limit")
    auth_fail_max_addresses: int = Field(
        default=10_000, ge=1, description="client addresses whose failures are tracked at once (oldest evicted)")
    # NoDecode: the validator below parses the JSON itself, so a typo is reported with the variable's name
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description='origins allowed to call the API, e.g. ["https://acme.amocrm.ru"]')
    cors_origin_regex: str | None = Field(
        default=AMOCRM_ORIGIN_REGEX, description="origin pattern (the widget's amoCRM domain); empty = none")
    max_batch: int = Field(default=10_000, ge=1, description="records per batch upsert or check:batch")
    max_body_bytes: int = Field(default=50_000_000, ge=1_000, description="largest request body accepted")
    merge_retention_days: float = Field(
        default=30.0, gt=0, description="how long the before-image of a record a merge absorbed is kept for undo "
        "(GET /v1/merges, restore); older ones are purged")
    max_field_chars: int = Field(default=2_000, ge=10, description="longest string accepted in one field")
    max_record_body_bytes: int = Field(
        default=65_536, ge=1_000, description="largest body of a request that is not a batch (one record, one "
        "check, one decision); never more than max_body_bytes")
    max_list_items: int = Field(
        default=1_000, ge=10, description="most entries of one list or object inside a record (custom fields, "
        "values of a field, linked leads)")
    # MLFLOW_TRACKING_URI is MLflow's own variable, honoured as it is (design.md, Config)
    mlflow_tracking_uri: str = Field(
        default="sqlite:///var/mlflow.db", validation_alias=AliasChoices("MLFLOW_TRACKING_URI", "mlflow_tracking_uri"),
        description="MLflow tracking store and model registry; artifacts of a sqlite store go to var/mlruns")
    model_refresh_seconds: float = Field(
        default=30.0, ge=0, description="how often the champion model and its threshold tags are re-read")
    mlflow_ui_url: str = Field(
        default="http://127.0.0.1:5000", description="where reviewers open the MLflow UI (`make mlflow-ui`); "
        "the review page links to it")
    metrics_token: str | None = Field(
        default=None, description="the Prometheus scraper's bearer token: with it /metrics adds the store's "
        "totals over all accounts (without it, process metrics only)")

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

    @field_validator("metrics_token")
    @classmethod
    def _metrics_token_is_strong(cls, value: str | None) -> str | None:
        if value is not None and len(value) < 16:
            raise ValueError("CRM_DEDUP_METRICS_TOKEN is too short: use 16+ random characters "
                             "(python -c 'import secrets; print(secrets.token_urlsafe(32))')")
        return value

    @field_validator("admin_token")
    @classmethod
    def _admin_token_is_strong(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None  # an empty variable leaves the admin API off
        if len(value) < 32:
            raise ValueError("CRM_DEDUP_ADMIN_TOKEN is too short: use 32+ random characters "
                             "(python -c 'import secrets; print(secrets.token_urlsafe(32))')")
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins_from_json(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if not value.strip():
            return []
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = None
        if not isinstance(parsed, list):
            raise ValueError(f'CRM_DEDUP_CORS_ORIGINS must be a JSON list such as ["https://acme.amocrm.ru"], '
                             f"got {value!r}")
        return parsed

    @field_validator("cors_origins")
    @classmethod
    def _origins_are_origins(cls, values: list[str]) -> list[str]:
        # A browser's Origin header is scheme://host[:port] with no path (RFC 6454 §6.1), so
        # "https://acme.amocrm.ru/" would never match; the trailing slash is dropped, a path refused.
        origins = []
        for value in values:
            if value == "*":
                origins.append(value)
                continue
            parts = urlsplit(value.strip().rstrip("/"))
            if parts.scheme not in {"http", "https"} or not parts.netloc or parts.path or parts.query:
                raise ValueError(f"CRM_DEDUP_CORS_ORIGINS: {value!r} is not an origin; "
                                 "write scheme://host[:port], e.g. https://acme.amocrm.ru")
            origins.append(f"{parts.scheme}://{parts.netloc.lower()}")
        return origins

    @field_validator("cors_origin_regex")
    @classmethod
    def _regex_compiles(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"CRM_DEDUP_CORS_ORIGIN_REGEX={value!r} is not a regular expression: {exc}") from None
        return value
