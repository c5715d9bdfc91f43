"""AmoSync on a real store and the stand-in, without the HTTP service: tokens, import slices, write-back rules."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from amocrm.config import SyncSettings
from amocrm.oauth import OAuthApp
from amocrm.standin import AmoStandin
from amocrm.sync import AmoSync, _StoredTokens
from amocrm.tokens import TokenSet
from resolver.store import Store
from tests.amocrm.conftest import ACCOUNT, CLIENT_ID, CLIENT_SECRET, REDIRECT

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def short_lived(store: Store) -> Iterator[tuple[AmoStandin, AmoSync]]:
    """Access tokens that live 100 s: inside the sync's 300 s refresh margin from the start."""
    with AmoStandin(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, redirect_uri=REDIRECT,
                    expires_in=100) as standin:
        standin.seed(ACCOUNT, subdomain="acme", contacts=300, companies=10)
        sync = AmoSync(store, SyncSettings(app=OAuthApp(CLIENT_ID, CLIENT_SECRET, REDIRECT),
                                           public_url="http://127.0.0.1:9", secret_key="s" * 40,
                                           base_url=standin.url, import_slice_pages=1, backoff_seconds=0.02),
                       duplicates=lambda account, entity, record_id: None)
        try:
            yield standin, sync
        finally:
            sync.stop()


def test_tokens_are_refreshed_before_they_expire_and_stored_encrypted(short_lived, store: Store):
    standin, sync = short_lived
    installed = sync.install(standin.issue_code(ACCOUNT), "acme.amocrm.ru")
    assert installed.account_id == str(ACCOUNT) and installed.created and installed.subscribed
    sync.client(installed.account_id).account()
    grants = [r.body["grant_type"] for r in standin.requests if r.path == "/oauth2/access_token"]
    assert grants[-1] == "refresh_token"  # refreshed ahead of expiry ...
    assert not [r for r in standin.requests if r.status == 401]  # ... so amoCRM never refused a token
    stored = store.amocrm_connection(installed.account_id)
    assert stored is not None and "acc" not in str(stored["tokens"]) and stored["webhook_secret_hash"]
    assert "webhooks" not in str(stored["webhook_destination"])  # the URL with its secret is encrypted too


def test_an_import_goes_slice_by_slice_and_counts_its_pages(short_lived, store: Store):
    standin, sync = short_lived
    account = sync.install(standin.issue_code(ACCOUNT), "acme.amocrm.ru").account_id
    seen = []
    while (state := sync.import_slice(account, progress=lambda done, total: seen.append((done, total)))).more:
        assert state.pages_done < state.pages_estimated
    assert (state.pages_done, state.pages_estimated, state.records) == (3, 3, 310)
    assert seen[:2] == [(1, 3), (2, 3)]  # contacts: 250, 50, then the one page of companies
    assert store.count_records(account, "contact") == 300 and store.count_records(account, "company") == 10
    assert not sync.import_pending(account)
    assert sync.import_slice(account).more is False  # nothing left: no page is read again


def test_a_refresh_lost_to_another_process_uses_the_pair_it_stored(short_lived, store: Store):
    standin, sync = short_lived
    account = sync.install(standin.issue_code(ACCOUNT), "acme.amocrm.ru").account_id
    # a second process (another API worker on the same store) refreshes first, with the same refresh token
    other = AmoSync(store, sync.settings, duplicates=lambda *_: None)
    try:
        other.client(account).account()
    finally:
        other.stop()
    winner = store.amocrm_connection(account)
    assert winner is not None
    stale = sync.cipher.decrypt(str(winner["tokens"]))
    # this process still holds the pair from before the other's refresh: amoCRM refuses that refresh token
    tokens = _StoredTokens(sync, account, standin.url)
    before = TokenSet("old-access", "old-refresh", 0.0)
    assert tokens._refresh(before).access_token == stale.access_token  # the stored pair, not needs-reinstall
    assert store.amocrm_connection(account)["status"] == "connected"
