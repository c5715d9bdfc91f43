"""The one settings object, built from the environment (prefix CRM_DEDUP_) once per process."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from resolver.store.postgres_store import redacted

# The widget runs inside the account's amoCRM page, so the browser sends that page's origin.
AMOCRM_ORIGIN_REGEX = r"https://[a-z0-9-]+\.amocrm\.(ru|com)"


class Settings(BaseSettings):
    """Where the store and models live and how the API behaves; defaults suit the embedded setup."""

    model_config = SettingsConfigDict(env_prefix="CRM_DEDUP_", extra="ignore")

    db: Path = Field(default=Path("var/crm-dedup.duckdb"), description="DuckDB store file (CRM_DEDUP_DB)")
    database_url: str | None = Field(
        default=None, description="postgresql://user:password@host:port/db: the shared PostgreSQL store of several "
        "API and job workers (CRM_DEDUP_DATABASE_URL); unset = the DuckDB file `db`")
    db_pool_size: int = Field(default=8, ge=1, le=200, description="PostgreSQL connections one process opens at most")
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
    key_cache_seconds: float = Field(
        default=5.0, ge=0, le=300, description="how long a process keeps an API key it looked up (a store query per "
        "request otherwise); a revoke or rotate in the same process applies at once, one by another process (the CLI "
        "on PostgreSQL, another API worker) within this time; 0 = look every key up on every request")
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

    # -- amoCRM connection (issue 12): all four of client id, secret, redirect URI and public URL turn it on
    amocrm_client_id: str | None = Field(default=None, description="the amoCRM integration's ID")
    amocrm_client_secret: str | None = Field(
        default=None, description="the integration's secret key; it also verifies the widget's X-Auth-Token when "
        "CRM_DEDUP_JWT_SECRET is unset (amoCRM signs widget tokens with it)")
    amocrm_redirect_uri: str | None = Field(
        default=None, description="the integration's redirect URI, e.g. https://dedup.example.com/amocrm/oauth/callback")
    public_url: str | None = Field(
        default=None, description="the address amoCRM and reviewers reach this service at (webhooks, links in notes)")
    amocrm_base_url: str | None = Field(
        default=None, description="replaces https://SUBDOMAIN.amocrm.ru for every OAuth and API call (tests, proxies)")
    secret_key: str | None = Field(
        default=None, description="32+ characters; encrypts amoCRM tokens at rest (Fernet, key derived by HKDF)")
    amocrm_tag: str = Field(default="дубль", min_length=1, max_length=50,
                            description="the tag put on a new record that has duplicates")
    amocrm_write_back: bool = Field(default=True, description="new accounts get write-back (tag + note) on")
    amocrm_catchup_seconds: float = Field(default=300.0, ge=1, description="how often the catch-up poll runs")
    amocrm_rate: float = Field(default=6.0, gt=0, le=7, description="requests per second per amoCRM account "
                               "(amoCRM allows 7)")
    amocrm_import_slice_pages: int = Field(
        default=20, ge=1, description="pages an import reads before the job runner serves another account")
    amocrm_max_retries: int = Field(default=10, ge=0, le=50, description="retries of one amoCRM request on 429/5xx")
    amocrm_backoff_seconds: float = Field(default=0.5, gt=0, description="first backoff delay (doubles, jittered)")

    @property
    def amocrm_enabled(self) -> bool:
        return bool(self.amocrm_client_id and self.amocrm_client_secret and self.amocrm_redirect_uri
                    and self.public_url)

    @property
    def widget_secret(self) -> str | None:
        """The secret verifying widget tokens: CRM_DEDUP_JWT_SECRET, else the amoCRM integration's secret."""
        return self.jwt_secret or self.amocrm_client_secret

    @model_validator(mode="after")
    def _amocrm_complete(self) -> Settings:
        if self.amocrm_enabled and not self.secret_key:
            raise ValueError("CRM_DEDUP_SECRET_KEY is required with the amoCRM connection (it encrypts the tokens); "
                             "use 32+ random characters")
        return self

    @field_validator("secret_key")
    @classmethod
    def _secret_key_is_strong(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if len(value) < 32:
            raise ValueError("CRM_DEDUP_SECRET_KEY is too short: use 32+ random characters "
                             "(python -c 'import secrets; print(secrets.token_urlsafe(32))')")
        return value

    @field_validator("public_url", "amocrm_base_url", "amocrm_redirect_uri")
    @classmethod
    def _is_http_url(cls, value: str | None, info: Any) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in {"http", "https"} or not parts.netloc or parts.query or parts.fragment:
            raise ValueError(f"CRM_DEDUP_{str(info.field_name).upper()}={value!r} is not an http(s) URL")
        return value.strip().rstrip("/") if info.field_name != "amocrm_redirect_uri" else value.strip()

    @field_validator("db")
    @classmethod
    def _db_is_a_file(cls, value: Path) -> Path:
        if str(value) != ":memory:" and value.exists() and value.is_dir():
            raise ValueError(f"CRM_DEDUP_DB={value} is a directory; give a file path such as var/crm-dedup.duckdb")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url_is_postgres(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("CRM_DEDUP_DATABASE_URL must start with postgresql:// (unset it to use the DuckDB file)")
        return value

    @property
    def store_target(self) -> str | Path:
        """What `resolver.store.open_store` opens: the PostgreSQL URL when set, else the DuckDB file."""
        return self.database_url or self.db

    @property
    def store_name(self) -> str:
        """The store as messages name it: the database URL without its password, else the DuckDB file."""
        return redacted(self.database_url) if self.database_url else str(self.db)

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
