"""Keeping a connected amoCRM account and its crm-dedup copy in step: install, import, webhooks, catch-up, write-back.

    install        the OAuth redirect: code -> tokens -> `GET /api/v4/account` -> the crm-dedup account named by
                   amoCRM's account id (the widget's token names it) -> webhooks subscribed at an unguessable
                   URL -> the caller queues the import job
    import_slice   the initial import, a slice of pages at a time (the job runner interleaves accounts); the
                   place is stored with each page's records in one transaction, so a crash resumes there
    receive        a webhook: checked (secret, account), parsed, queued; answered at once
    the worker     one thread: queued events per account in turn -> records re-read by id -> upsert or mark
                   deleted -> check against the base -> write-back; and every `catchup_seconds` a poll of
                   `filter[updated_at][from]` per account repairs what a lost webhook missed
    write-back     a tag (default "дубль") and a note with the matches, scores and a link to the review page;
                   the tag comes off when no match is left (reviewers said "not a duplicate" to all of them).
                   Nothing is ever merged from here.

Failures: a refused refresh marks the account needs_reinstall (tokens deleted, syncing stops); amoCRM's
disable hook marks it uninstalled the same way. Everything runs on `Store` and takes account_id.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import httpx

from amocrm import oauth
from amocrm.client import WITH, AmoClient, Collection
from amocrm.config import DEFAULT_TAG, DuplicatesFn, SyncSettings
from amocrm.errors import AmoError, NeedsReinstall
from amocrm.events import Event, EventQueue
from amocrm.importing import CLOCK_MARGIN_SECONDS, ImportProgress, ImportSteps
from amocrm.ratelimit import Buckets
from amocrm.tokens import TokenCipher, TokenSet
from amocrm.webhooks import parse_delivery
from amocrm.writeback import WriteBack
from resolver.accounts import ensure_account
from resolver.entities import spec_for
from resolver.errors import InputError, NotFound
from resolver.normalize.region import region_for_country
from resolver.records import ENTITIES, PLURAL, Entity
from resolver.store.amocrm import CONNECTED, NEEDS_REINSTALL, UNINSTALLED, AmoPersistence

logger = logging.getLogger(__name__)

_ACCOUNT_ID = re.compile(r"[0-9]{1,19}")
_SECRET = re.compile(r"[A-Za-z0-9_-]{20,100}")
_IMPORT_CHECK_SECONDS = 30.0  # how often the worker queues imports a failure stopped


@dataclass(frozen=True)
class Installed:
    account_id: str
    subdomain: str
    created: bool
    subscribed: bool


class _StoredTokens:
    """The TokenSource of one account: the encrypted pair in the store, refreshed under the account's lock.

    Refresh tokens are single-use: two threads refreshing at once would void each other's pair, so a
    refresh happens under a per-account lock and only when the token that failed is still the stored one.
    """

    def __init__(self, sync: AmoSync, account_id: str, api_base: str) -> None:
        self._sync = sync
        self._account = account_id
        self._base = api_base

    def _load(self) -> TokenSet:
        conn = self._sync.store.amocrm_connection(self._account)
        if conn is None or conn["status"] != CONNECTED or not conn["tokens"]:
            raise NeedsReinstall(f"amoCRM account {self._account} is not connected")
        return self._sync.cipher.decrypt(str(conn["tokens"]))

    def access_token(self) -> str:
        with self._sync.token_lock(self._account):
            tokens = self._load()
            if tokens.expires_within(self._sync.settings.refresh_margin_seconds):
                tokens = self._refresh(tokens)
            return tokens.access_token

    def refresh(self, stale: str) -> str:
        with self._sync.token_lock(self._account):
            tokens = self._load()
            if tokens.access_token != stale:
                return tokens.access_token  # another thread refreshed meanwhile
            return self._refresh(tokens).access_token

    def _refresh(self, tokens: TokenSet) -> TokenSet:
        try:
            fresh = oauth.refresh_tokens(self._sync.http, self._base, self._sync.settings.app, tokens.refresh_token)
        except NeedsReinstall as exc:
            # another process (several API workers on one store) may have used this single-use refresh token
            # a moment ago and stored its new pair: that pair is good, the account is fine
            stored = self._load()
            if stored.refresh_token != tokens.refresh_token:
                return stored
            self._sync.mark_needs_reinstall(self._account, f"token refresh refused: {exc}")
            raise
        self._sync.store.set_amocrm_tokens(self._account, self._sync.cipher.encrypt(fresh))
        return fresh


class _FixedToken:
    """The token of an install in progress, before anything is stored."""

    def __init__(self, token: str) -> None:
        self._token = token

    def access_token(self) -> str:
        return self._token

    def refresh(self, stale: str) -> str:
        raise NeedsReinstall("amoCRM refused the token it has just issued")


class AmoSync(ImportSteps, WriteBack):
    """One per process: the sync of every connected account. `start()` runs the worker; `stop()` ends it."""

    def __init__(self, store: AmoPersistence, settings: SyncSettings, *, duplicates: DuplicatesFn,
                 http: httpx.Client | None = None) -> None:
        self.store = store
        self.settings = settings
        self.cipher = TokenCipher(settings.secret_key)
        self.buckets = Buckets(settings.rate)
        self.http = http or httpx.Client(timeout=oauth.TIMEOUT, follow_redirects=False)
        self._duplicates = duplicates
        self._queue = EventQueue()
        self._token_locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_catchup: dict[str, float] = {}
        self.busy = threading.Lock()  # held while the worker handles a batch
        # queues an account's import job (the API's job runner); an import that failed (amoCRM down through
        # every retry) is queued again by the worker, and goes on from its last stored page
        self.submit_import: Callable[[str], object] | None = None
        # queues an incremental scan of an account's entity (the API's job runner) after a webhook batch or a
        # catch-up stored records of it, so a scanned base's groups follow amoCRM (resolver/incremental.py)
        self.submit_scan: Callable[[str, Entity], object] | None = None
        self._next_import_check = 0.0

    # -- life -----------------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(target=self._work, name="crm-dedup-amocrm", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """End the worker (after the batch in hand); nothing is queued to the job runner any more. Idempotent."""
        self.submit_import = None
        self.submit_scan = None
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stopping.set()
            with self._queue.cond:
                self._queue.cond.notify_all()
            thread.join(timeout)
        self.http.close()

    def token_lock(self, account_id: str) -> threading.Lock:
        with self._locks_lock:
            return self._token_locks.setdefault(account_id, threading.Lock())

    def client(self, account_id: str) -> AmoClient:
        """The API client of a connected account (NeedsReinstall when it is not connected)."""
        conn = self.store.amocrm_connection(account_id)
        if conn is None or conn["status"] != CONNECTED:
            raise NeedsReinstall(f"amoCRM account {account_id} is not connected")
        return self._client(str(conn["api_base"]), _StoredTokens(self, account_id, str(conn["api_base"])),
                            account_id)

    def _client(self, base: str, tokens: Any, account_id: str) -> AmoClient:
        s = self.settings
        return AmoClient(base, tokens, self.buckets.for_account(account_id), http=self.http,
                         max_retries=s.max_retries, backoff_seconds=s.backoff_seconds,
                         backoff_cap_seconds=s.backoff_cap_seconds)

    # -- install and uninstall ------------------------------------------------------------------------

    def install(self, code: str, referer: str) -> Installed:
        """The OAuth redirect's work: tokens, account, connection, webhooks. The import is the caller's to queue."""
        if not code or len(code) > 2_000:
            raise InputError.one("code is missing or too long", field="code")
        try:
            host = oauth.account_host(referer)
        except ValueError as exc:
            raise InputError.one(str(exc), field="referer") from exc
        base = oauth.api_base(host, self.settings.base_url)
        tokens = oauth.exchange_code(self.http, base, self.settings.app, code)
        info = self._client(base, _FixedToken(tokens.access_token), "install:" + host).account()
        account_id = str(info["id"])
        # that request counts against the account's rate too (its bucket was unknown until now)
        self.buckets.for_account(account_id).acquire()
        subdomain = str(info.get("subdomain") or host.split(".", 1)[0])[:63]
        country = info.get("country")
        country = str(country)[:10] if country is not None else None
        ensure_account(self.store, account_id)
        previous = self.store.amocrm_connection(account_id)
        secret = secrets.token_urlsafe(32)
        destination = f"{self.settings.public_url.rstrip('/')}/amocrm/webhooks/{account_id}/{secret}"
        created = self.store.connect_amocrm(
            account_id, subdomain=subdomain, api_base=base, country=country, region=region_for_country(country),
            tokens=self.cipher.encrypt(tokens), secret_hash=_hash(secret),
            destination=self.cipher.encrypt_text(destination), write_back=self.settings.write_back,
            tag=self.settings.tag)
        client = self.client(account_id)
        if previous is not None and previous.get("webhook_destination"):
            old = self.cipher.decrypt_text(str(previous["webhook_destination"]))
            if old and old != destination:
                try:  # the old URL's secret is void now; a hook left behind would only get 404s
                    client.unsubscribe(old)
                except AmoError as exc:
                    logger.info("old webhook of %s not removed: %s", account_id, exc)
        subscribed = True
        try:
            client.subscribe(destination)
        except NeedsReinstall:
            raise
        except AmoError as exc:
            # API-managed webhooks need a paid plan on some accounts: the catch-up poll still syncs
            logger.warning("webhooks of amoCRM account %s not subscribed (%s); catch-up polling only", account_id,
                           exc)
            subscribed = False
        self._next_catchup.pop(account_id, None)
        logger.info("amoCRM account %s (%s) %s", account_id, subdomain, "installed" if created else "reconnected")
        return Installed(account_id, subdomain, created, subscribed)

    def mark_needs_reinstall(self, account_id: str, reason: str) -> None:
        """Stop syncing the account until a person installs the integration again (the first reason is kept)."""
        conn = self.store.amocrm_connection(account_id)
        if conn is None or conn["status"] != CONNECTED:
            return
        logger.warning("amoCRM account %s needs a re-install: %s", account_id, reason)
        self.store.set_amocrm_status(account_id, NEEDS_REINSTALL, reason[:500])
        self._queue.drop(account_id)

    def disable(self, account_id: str, client_uuid: str, signature: str) -> None:
        """amoCRM's disable hook: with a valid signature the account is uninstalled (tokens deleted, syncing stops).

        The signature is hex HMAC-SHA256(client_secret, "client_id|account_id"), as public code describes it
        (docs/amocrm-notes.md, section 1, UNOFFICIAL). Anything else is NotFound, whatever is wrong.
        """
        app = self.settings.app
        expected = hmac.new(app.client_secret.encode(), f"{app.client_id}|{account_id}".encode(),
                            hashlib.sha256).hexdigest()
        conn = self.store.amocrm_connection(account_id) if _ACCOUNT_ID.fullmatch(account_id) else None
        if conn is None or not hmac.compare_digest(expected, signature.strip().lower()):
            raise NotFound("no such amoCRM installation")
        self.store.set_amocrm_status(account_id, UNINSTALLED, f"disabled in amoCRM (client {client_uuid[:64]})")
        self._queue.drop(account_id)
        logger.info("amoCRM account %s uninstalled by its disable hook", account_id)

    # -- webhooks -------------------------------------------------------------------------------------

    def receive(self, account_id: str, secret: str, body: bytes) -> int:
        """Check and queue one webhook delivery; returns the number of record events in it.

        A wrong secret, an unknown or disconnected account all give the same NotFound, so the URL is no
        oracle. A body naming another account is InputError (it came through this account's URL).
        """
        conn = self.store.amocrm_connection(account_id) if _ACCOUNT_ID.fullmatch(account_id) else None
        stored = str(conn["webhook_secret_hash"] or "") if conn is not None else ""
        given = _hash(secret) if _SECRET.fullmatch(secret) else ""
        if conn is None or conn["status"] != CONNECTED or not stored or not hmac.compare_digest(stored, given):
            raise NotFound("no such webhook")
        delivery = parse_delivery(body)
        if delivery.account_id is not None and delivery.account_id != account_id:
            raise InputError.one(f"the body is of amoCRM account {delivery.account_id}, this URL is of {account_id}",
                                 field="account[id]")
        if delivery.subdomain is not None and delivery.subdomain != str(conn["subdomain"]).lower():
            raise InputError.one("the body's account[subdomain] is not this account's", field="account[subdomain]")
        # the marker event: the worker notes the webhook's time once the batch is handled
        self._queue.put(account_id, [(e.entity, e.action, e.record_id) for e in delivery.events]
                        + [("", "webhook", "")])
        return len(delivery.events)

    def recheck(self, account_id: str, entity: Entity, record_ids: Sequence[str]) -> int:
        """After reviewers' decisions: the tagged ones of `record_ids` are checked again (the tag may come off)."""
        tagged = self.store.tagged_amocrm_records(account_id, entity, list(record_ids)[:10_000])
        if not tagged or self.store.amocrm_connection(account_id) is None:
            return 0
        return self._queue.put(account_id, [(entity, "recheck", r) for r in tagged])

    def queued(self, account_id: str) -> int:
        return self._queue.size(account_id)

    # -- the worker -----------------------------------------------------------------------------------

    def _work(self) -> None:
        while not self._stopping.is_set():
            taken = self._queue.take(timeout=1.0)
            try:
                if taken is not None:
                    with self.busy:
                        self._handle(*taken)
                self._catch_up_due()
                self._imports_due()
            except Exception:  # the worker must outlive any one account's trouble; the trace goes to the log
                logger.exception("amoCRM sync step failed")

    def _handle(self, account_id: str, events: list[Event]) -> None:
        conn = self.store.amocrm_connection(account_id)
        if conn is None or conn["status"] != CONNECTED:
            return
        try:
            client = self.client(account_id)
            pulled = 0
            from_webhook = any(action == "webhook" for _, action, _ in events)
            for entity in ENTITIES:
                read = [r for e, a, r in events if e == entity and a != "recheck"]
                changed = {r for e, a, r in events if e == entity and a in ("add", "update", "restore")}
                rechecks = {r for e, a, r in events if e == entity and a == "recheck"}
                if read:
                    found = self._pull(client, account_id, entity, str(conn["region"]), read)
                    pulled += len(found)
                    for gone in dict.fromkeys(read):
                        if gone not in found:
                            self.store.mark_deleted(account_id, entity, gone)
                    changed &= found
                    self._queue_scan(account_id, entity)
                for record_id in sorted(changed | rechecks):
                    self.write_back(client, account_id, entity, record_id)
            if from_webhook:
                self.store.note_amocrm_webhook(account_id, pulled)
        except NeedsReinstall as exc:
            self.mark_needs_reinstall(account_id, str(exc))
        except AmoError as exc:  # amoCRM unavailable through every retry: the catch-up poll repairs it later
            logger.warning("amoCRM events of %s not handled: %s", account_id, exc)

    def _pull(self, client: AmoClient, account_id: str, entity: Entity, region: str, ids: Sequence[str]) -> set[str]:
        """Re-read records by id and store them; the ids amoCRM returned."""
        items = client.by_ids(cast(Collection, PLURAL[entity]), list(dict.fromkeys(ids)))
        records = self._records(account_id, entity, region, items)
        if records:
            self.store.upsert_records(account_id, spec_for(entity), records)
        return {r.record_id for r in records}

    def _queue_scan(self, account_id: str, entity: Entity) -> None:
        """An incremental scan of what was just stored, when the base was scanned before (else nothing to keep
        current); one unfinished scan job per account and entity, so a burst of webhooks queues one."""
        submit = self.submit_scan
        if submit is not None and self.store.scan_state(account_id, entity) is not None:
            submit(account_id, entity)

    def catch_up(self, account_id: str) -> int:
        """Read what changed since the last catch-up (`filter[updated_at][from]`); returns records read."""
        conn = self.store.amocrm_connection(account_id)
        if conn is None or conn["status"] != CONNECTED or self.import_pending(account_id):
            return 0
        since = int(conn["catchup_from"] or 0)
        client = self.client(account_id)
        newest, pulled = since, 0
        try:
            for entity in ENTITIES:
                collection = cast(Collection, PLURAL[entity])
                for page in client.pages(collection, params=[
                        ("with", ",".join(WITH[collection])), ("filter[updated_at][from]", str(since)),
                        ("order[updated_at]", "asc")]):
                    records = self._records(account_id, entity, str(conn["region"]), page.items)
                    if records:
                        self.store.upsert_records(account_id, spec_for(entity), records)
                        self._queue_scan(account_id, entity)
                    pulled += len(records)
                    newest = max([newest, *(int(i.get("updated_at") or 0) for i in page.items)])
                    for record in records:
                        self.write_back(client, account_id, entity, record.record_id)
            for entity, record_id in self.store.pending_amocrm_writebacks(account_id):
                self.write_back(client, account_id, entity, record_id)
        except NeedsReinstall as exc:
            self.mark_needs_reinstall(account_id, str(exc))
            return pulled
        # the newest change seen, less a margin: changes in the same second (or a skewed clock) are read again,
        # which costs a re-read and changes nothing (upserts are idempotent)
        following = max(since, min(newest, int(time.time())) - CLOCK_MARGIN_SECONDS) if newest > since else since
        self.store.note_amocrm_catchup(account_id, catchup_from=following, pulled=pulled)
        return pulled

    def _imports_due(self) -> None:
        now = time.monotonic()
        if self.submit_import is None or now < self._next_import_check:
            return
        self._next_import_check = now + _IMPORT_CHECK_SECONDS
        for account_id in self.store.amocrm_accounts(CONNECTED):
            if self.import_pending(account_id):
                self.submit_import(account_id)  # the account's unfinished import job when it has one

    def _catch_up_due(self) -> None:
        now = time.monotonic()
        for account_id in self.store.amocrm_accounts(CONNECTED):
            due = self._next_catchup.get(account_id)
            if due is None:
                self._next_catchup[account_id] = now + self.settings.catchup_seconds
                continue
            if now < due or self._stopping.is_set():
                continue
            self._next_catchup[account_id] = now + self.settings.catchup_seconds
            try:
                with self.busy:
                    self.catch_up(account_id)
            except AmoError as exc:
                logger.warning("catch-up of amoCRM account %s failed: %s", account_id, exc)

    # -- the operator's view --------------------------------------------------------------------------

    def status(self, account_id: str) -> dict[str, Any]:
        """The account's connection as GET /v1/amocrm/status shows it (NotFound when it never installed)."""
        conn = self.store.amocrm_connection(account_id)
        if conn is None:
            raise NotFound(f"account {account_id} has no amoCRM connection; install the integration in amoCRM")
        done, estimated, records = self._import_totals(account_id)
        return {
            "account_id": account_id, "subdomain": conn["subdomain"], "status": conn["status"],
            "reason": conn["status_reason"], "region": conn["region"], "write_back": conn["write_back"],
            "tag": conn["tag"], "installed_at": conn["installed_at"], "status_at": conn["status_at"],
            "last_webhook_at": conn["last_webhook_at"], "last_catchup_at": conn["last_catchup_at"],
            "records_pulled": conn["records_pulled"],
            "import": {"pages_done": done, "pages_estimated": estimated, "records": records,
                       "finished": not self.import_pending(account_id)},
            "pending_write_backs": len(self.store.pending_amocrm_writebacks(account_id)),
            "queued_events": self._queue.size(account_id),
        }


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


__all__ = ["DEFAULT_TAG", "AmoSync", "ImportProgress", "Installed", "SyncSettings"]
