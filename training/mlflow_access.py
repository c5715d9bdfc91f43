"""Who may see what in the MLflow UI: one MLflow login per account, scoped to that account's runs and models.

The UI runs MLflow's own `basic-auth` app with `default_permission = NO_PERMISSIONS`, so a login sees
nothing it was not granted. Each account gets the user `<account>-reviewer` with READ on its
experiments (`crm-dedup-<account>-<entity>`: runs, metrics, the borderline-pairs CSV) and EDIT on its
registered models of the same names (EDIT is what moving the threshold tags needs; MANAGE would also let
it delete versions and hand out access, so it is not given).

Grants are written where the server reads them: straight into the auth database through MLflow's auth
store (no server needs to run) when the tracking store is a database, or through the server's auth REST
API when the tracking URI is an `http(s)://` server (credentials: MLflow's own MLFLOW_TRACKING_USERNAME /
MLFLOW_TRACKING_PASSWORD, an admin or the user that created the resources). The auth database is the
one in the ini named by MLflow's MLFLOW_AUTH_CONFIG_PATH, else `mlflow-auth.db` beside a sqlite tracking
store (`var/mlflow.db` -> `var/mlflow-auth.db`, what `make mlflow-ui` writes).

`python -m training.mlflow_access ui` is `make mlflow-ui`: it writes the auth config once and starts
the server.
"""

from __future__ import annotations

import argparse
import configparser
import os
import re
import secrets
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from resolver.errors import InputError, ModelError
from resolver.records import ENTITIES

USER_SUFFIX = "-reviewer"
EXPERIMENT_PERMISSION = "READ"  # runs, metrics, artifacts: to look, not to change
MODEL_PERMISSION = "EDIT"  # version tags (the thresholds) and aliases; not delete, not grant
AUTH_DB_NAME = "mlflow-auth.db"
CONFIG_NAME = "mlflow-auth.ini"
ADMIN_PASSWORD_FILE = "mlflow-admin-password"
FLASK_SECRET_FILE = "mlflow-flask-secret"
ADMIN_PASSWORD_ENV = "CRM_DEDUP_MLFLOW_ADMIN_PASSWORD"
_PREFIX = "crm-dedup-"
_ACCOUNT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")  # resolver.accounts' rule for account names
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")  # training.registry.registered_name's rule


def username_for(account_id: str) -> str:
    """The MLflow login of an account's reviewers: `<account>-reviewer` (the suffix keeps it off `admin`)."""
    return f"{_UNSAFE.sub('_', account_id)}{USER_SUFFIX}"


def owner_of(resource_name: str) -> str | None:
    """The login that owns `crm-dedup-<account>-<entity>`; None for a name of another scheme."""
    for entity in ENTITIES:
        suffix = f"-{entity}"
        if resource_name.startswith(_PREFIX) and resource_name.endswith(suffix):
            account = resource_name[len(_PREFIX):-len(suffix)]
            if account:
                return f"{account}{USER_SUFFIX}"
    return None


def auth_db_uri(tracking_uri: str) -> str | None:
    """The basic-auth database the MLflow server reads for this tracking store (None: none can be known)."""
    config = os.environ.get("MLFLOW_AUTH_CONFIG_PATH")
    if config:
        parser = configparser.ConfigParser()
        if not parser.read(config) or not parser.has_option("mlflow", "database_uri"):
            raise ModelError(f"MLFLOW_AUTH_CONFIG_PATH={config}: no [mlflow] database_uri in it")
        return parser.get("mlflow", "database_uri")
    if tracking_uri.startswith("sqlite:///"):
        return f"sqlite:///{Path(tracking_uri.removeprefix('sqlite:///')).parent / AUTH_DB_NAME}"
    return None


def _sqlite_missing(db_uri: str) -> bool:
    return db_uri.startswith("sqlite:///") and not Path(db_uri.removeprefix("sqlite:///")).exists()


class _Backend(Protocol):
    def user(self, username: str) -> bool | None: ...  # None: no such user; else whether an admin
    def set_password(self, username: str, password: str) -> None: ...
    def grant(self, username: str, resource_type: str, resource_id: str, permission: str) -> None: ...
    def others_holding(self, resource_type: str, resource_id: str, username: str) -> list[str]: ...


class _StoreBackend:
    """MLflow's auth store on the auth database: the same rows the server's permission checks read."""

    def __init__(self, db_uri: str) -> None:
        from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore

        self.store = SqlAlchemyStore()
        self.store.init_db(db_uri)  # creates or migrates the schema, as the server does on start

    def user(self, username: str) -> bool | None:
        if not self.store.has_user(username):
            return None
        return bool(self.store.get_user(username).is_admin)

    def set_password(self, username: str, password: str) -> None:
        if self.store.has_user(username):
            self.store.update_user(username, password=password)
        else:
            self.store.create_user(username, password)

    def grant(self, username: str, resource_type: str, resource_id: str, permission: str) -> None:
        self.store.grant_user_permission(username, resource_type, resource_id, permission)  # an upsert

    def others_holding(self, resource_type: str, resource_id: str, username: str) -> list[str]:
        """Non-admin users other than `username` with a grant on exactly this resource (any role)."""
        from mlflow.server.auth.db.models import SqlRole, SqlRolePermission, SqlUser, SqlUserRoleAssignment

        with self.store.ManagedSessionMaker() as session:
            rows = (session.query(SqlUser.username)
                    .join(SqlUserRoleAssignment, SqlUserRoleAssignment.user_id == SqlUser.id)
                    .join(SqlRole, SqlRole.id == SqlUserRoleAssignment.role_id)
                    .join(SqlRolePermission, SqlRolePermission.role_id == SqlRole.id)
                    .filter(SqlRolePermission.resource_type == resource_type,
                            SqlRolePermission.resource_pattern == resource_id,
                            SqlUser.username != username, SqlUser.is_admin.is_(False))
                    .distinct().all())
        return sorted(str(r[0]) for r in rows)


class _RestBackend:
    """The auth REST API of a running basic-auth server, with MLflow's own tracking credentials."""

    def __init__(self, tracking_uri: str) -> None:
        from mlflow.server.auth.client import AuthServiceClient

        self.client = AuthServiceClient(tracking_uri)

    @staticmethod
    def _code(exc: Exception) -> str:
        return str(getattr(exc, "error_code", ""))

    def user(self, username: str) -> bool | None:
        from mlflow.exceptions import MlflowException

        try:
            return bool(self.client.get_user(username).is_admin)
        except MlflowException as exc:
            if self._code(exc) == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise

    def set_password(self, username: str, password: str) -> None:
        if self.user(username) is None:
            self.client.create_user(username, password)
        else:
            self.client.update_user_password(username, password)

    def grant(self, username: str, resource_type: str, resource_id: str, permission: str) -> None:
        from mlflow.exceptions import MlflowException

        try:
            self.client.grant_user_permission(username, resource_type, resource_id, permission)
        except MlflowException as exc:
            if self._code(exc) != "RESOURCE_ALREADY_EXISTS":
                raise
            self.client.revoke_user_permission(username, resource_type, resource_id)  # the REST grant
            self.client.grant_user_permission(username, resource_type, resource_id, permission)  # is no upsert

    def others_holding(self, resource_type: str, resource_id: str, username: str) -> list[str]:
        return []  # the REST API lists grants per user only; the server's own creator grant is the service's


@dataclass(frozen=True)
class Login:
    """An account's MLflow login as `create_login` made it, and what it was given access to."""

    username: str
    password: str
    shared: tuple[str, ...]


class TenantAccess:
    """Users and grants for the tracking store at `tracking_uri`; a no-op where no auth database exists."""

    def __init__(self, tracking_uri: str) -> None:
        self.tracking_uri = tracking_uri
        self._backend: _Backend | None = None
        self._opened = False

    def _open(self, create: bool) -> _Backend | None:
        if self._opened and (self._backend is not None or not create):
            return self._backend
        if self.tracking_uri.startswith(("http://", "https://")):
            self._backend = _RestBackend(self.tracking_uri)
        else:
            db_uri = auth_db_uri(self.tracking_uri)
            if db_uri is None:
                if create:
                    raise ModelError(f"no MLflow auth database is known for the tracking store {self.tracking_uri}: "
                                     "set MLFLOW_AUTH_CONFIG_PATH to the basic-auth ini the MLflow server uses")
                self._backend = None
            elif _sqlite_missing(db_uri) and not create:
                self._backend = None  # no basic-auth server was set up here, so nobody's login to grant to
            else:
                if db_uri.startswith("sqlite:///"):
                    Path(db_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
                self._backend = _StoreBackend(db_uri)
        self._opened = True
        return self._backend

    # -- the registry's hook --------------------------------------------------------------------------

    def share_experiment(self, name: str, experiment_id: str) -> None:
        """READ on the experiment for its account's login; refuses one that others were given (squatted)."""
        self._share("experiment", experiment_id, name, EXPERIMENT_PERMISSION)

    def share_registered_model(self, name: str) -> None:
        """EDIT on the registered model for its account's login; refuses one that others were given."""
        self._share("registered_model", name, name, MODEL_PERMISSION)

    def _share(self, resource_type: str, resource_id: str, name: str, permission: str) -> None:
        username = owner_of(name)
        backend = self._open(create=False) if username else None
        if backend is None or username is None:
            return
        # Any logged-in user can create an experiment or model under any name, and becomes its manager.
        # Someone who made `crm-dedup-<other>-contact` before that account's first retrain would then
        # read its runs; so the service writes nothing into a resource that anyone else holds a grant on.
        others = backend.others_holding(resource_type, resource_id, username)
        if others:
            raise ModelError(f"MLflow {resource_type.replace('_', ' ')} {name!r} is also granted to "
                             f"{', '.join(others)}; crm-dedup will not log {username}'s data into it. An MLflow "
                             "admin should delete it (or revoke those grants) and retrain")
        if backend.user(username) is None:
            return  # no login for this account yet: `crm-dedup accounts mlflow-user` grants when it creates one
        backend.grant(username, resource_type, resource_id, permission)

    # -- logins ---------------------------------------------------------------------------------------

    def create_login(self, account_id: str, existing: Iterable[tuple[str, str, str]] = ()) -> Login:
        """Create or reset the account's login (a new random password) and grant it `existing` resources:
        (resource_type, resource_id, name) triples of the account's experiments and registered models."""
        if not _ACCOUNT.fullmatch(account_id):
            raise InputError.one(f"account name {account_id!r}: use 1-63 latin letters, digits, '.', '_' or '-'",
                                 field="name")
        username = username_for(account_id)
        backend = self._open(create=True)
        assert backend is not None  # create=True raises instead
        if backend.user(username):
            raise ModelError(f"MLflow user {username!r} is an admin; crm-dedup does not reset admins")
        password = secrets.token_urlsafe(24)  # MLflow wants 12+ characters
        backend.set_password(username, password)
        shared = []
        for resource_type, resource_id, name in existing:
            self._share(resource_type, resource_id, name,
                        EXPERIMENT_PERMISSION if resource_type == "experiment" else MODEL_PERMISSION)
            shared.append(name if resource_type == "registered_model" else f"{name} (experiment)")
        return Login(username, password, tuple(shared))


def account_resources(client: Any, account_id: str) -> list[tuple[str, str, str]]:
    """The account's experiments and registered models that exist in `client`'s store, as
    (resource_type, resource_id, name) for `TenantAccess.create_login`."""
    from mlflow.exceptions import MlflowException

    from training.registry import registered_name

    found: list[tuple[str, str, str]] = []
    for entity in ENTITIES:
        name = registered_name(account_id, entity)
        experiment = client.get_experiment_by_name(name)
        if experiment is not None:
            found.append(("experiment", str(experiment.experiment_id), name))
        try:
            client.get_registered_model(name)
        except MlflowException:
            continue
        found.append(("registered_model", name, name))
    return found


# -- `make mlflow-ui` ---------------------------------------------------------------------------------

def _var_dir(tracking_uri: str) -> Path:
    if tracking_uri.startswith("sqlite:///"):
        return Path(tracking_uri.removeprefix("sqlite:///")).parent
    return Path("var")


def ensure_ui_config(tracking_uri: str, say: Callable[[str], None]) -> tuple[Path, str]:
    """The basic-auth ini (written once) and the admin password: from CRM_DEDUP_MLFLOW_ADMIN_PASSWORD, else
    generated once into a 0600 file beside the ini. MLflow uses the password only to create the admin
    user on first start; later starts keep the admin the auth database already has."""
    var = _var_dir(tracking_uri)
    var.mkdir(parents=True, exist_ok=True)
    config = var / CONFIG_NAME
    if not config.exists():
        db_uri = f"sqlite:///{var / AUTH_DB_NAME}"
        config.write_text(
            "# MLflow basic-auth for crm-dedup (written by `make mlflow-ui`): a login sees only what it was\n"
            "# granted; `crm-dedup accounts mlflow-user ACCOUNT` creates an account's login.\n"
            "# The admin password is never stored here: MLFLOW_AUTH_ADMIN_PASSWORD sets it on first start.\n"
            "[mlflow]\n"
            "default_permission = NO_PERMISSIONS\n"
            f"database_uri = {db_uri}\n"
            "admin_username = admin\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n",
            encoding="utf-8")
        say(f"wrote {config}")
    password = os.environ.get(ADMIN_PASSWORD_ENV, "")
    if not password:
        secret = var / ADMIN_PASSWORD_FILE
        password, made = _private_secret(secret)
        say(f"MLflow admin user 'admin', password (generated once, kept in {secret}): {password}" if made
            else f"MLflow admin user 'admin': password in {secret}")
    return config, password


def _private_secret(path: Path) -> tuple[str, bool]:
    """The secret kept in `path`, made (random, mode 0600) when missing; and whether it was just made."""
    if path.exists():
        return path.read_text(encoding="utf-8").strip(), False
    value = secrets.token_urlsafe(18)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never readable by others, not even briefly
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(value + "\n")
    return value, True


def flask_secret(tracking_uri: str) -> str:
    """The key MLflow's auth app signs its CSRF tokens with: MLFLOW_FLASK_SERVER_SECRET_KEY, else kept in var/."""
    return os.environ.get("MLFLOW_FLASK_SERVER_SECRET_KEY") or _private_secret(
        _var_dir(tracking_uri) / FLASK_SECRET_FILE)[0]


def ui_command(tracking_uri: str, host: str, port: int, workers: int | None = None) -> list[str]:
    """`mlflow server` with the basic-auth app on the tracking store; artifacts read where the runs put them."""
    root = _var_dir(tracking_uri) / "mlruns"
    command = [sys.executable, "-m", "mlflow", "server", "--app-name", "basic-auth",
               "--backend-store-uri", tracking_uri, "--default-artifact-root", str(root),
               "--no-serve-artifacts", "--host", host, "--port", str(port)]
    return command + (["--workers", str(workers)] if workers else [])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.mlflow_access",
                                     description="the MLflow UI with per-account logins (make mlflow-ui)")
    sub = parser.add_subparsers(dest="command", required=True)
    ui = sub.add_parser("ui", help="write the auth config if missing, then run the basic-auth MLflow server")
    ui.add_argument("--tracking-uri", default="sqlite:///var/mlflow.db")
    ui.add_argument("--host", default="127.0.0.1", help="default: loopback only")
    ui.add_argument("--port", type=int, default=5000)
    ui.add_argument("--workers", type=int)
    args = parser.parse_args(argv)

    def say(line: str) -> None:
        sys.stderr.write(line + "\n")

    config, password = ensure_ui_config(args.tracking_uri, say)
    if args.host not in {"127.0.0.1", "localhost", "::1"}:
        say(f"warning: the MLflow UI listens on {args.host}; logins travel as HTTP Basic auth, "
            "so put it behind TLS (a reverse proxy) before anyone reaches it over a network")
    env = os.environ | {"MLFLOW_AUTH_CONFIG_PATH": str(config.resolve()), "MLFLOW_AUTH_ADMIN_PASSWORD": password,
                        "MLFLOW_FLASK_SERVER_SECRET_KEY": flask_secret(args.tracking_uri)}
    command = ui_command(args.tracking_uri, args.host, args.port, args.workers)
    say(f"MLflow UI on http://{args.host}:{args.port} (log in as an account's <account>{USER_SUFFIX} or admin)")
    os.execve(command[0], command, env)
    return 0  # not reached: the server replaces this process


if __name__ == "__main__":
    sys.exit(main())
