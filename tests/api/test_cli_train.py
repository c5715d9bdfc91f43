"""`crm-dedup train` then `crm-dedup scan`: the CLI scans with the model the account is served, as the API does."""

import pytest

from resolver.entities import ExtraField
from resolver.store import Store
from tests.api.conftest import cli
from tests.training.test_retrain import labeled_store


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch, tmp_path):
    monkeypatch.delenv("CRM_DEDUP_DB", raising=False)
    monkeypatch.delenv("CRM_DEDUP_MODELS_DIR", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)


def last_scan(db):
    """(model version of acme's last contact scan, its pairs' probabilities by pair)."""
    with Store(db) as store:
        scan = store.last_scan("acme", "contact")
        pairs = store._execute("SELECT left_id, right_id, match_probability FROM pairs "
                               "WHERE account_id = 'acme' AND entity = 'contact'").fetchall()
    assert scan is not None
    return scan["model_version"], {(a, b): p for a, b, p in pairs}


def test_scan_after_train_uses_the_accounts_champion(tmp_path, capsys):
    db = tmp_path / "store.duckdb"
    labeled_store(db).close()  # generated contacts of `acme` with reviewers' decisions
    code, _, err = cli(capsys, "scan", "--db", db, "--account", "acme", "--entity", "contact")
    assert code == 0, err
    shipped, before = last_scan(db)
    assert shipped == "default-1" and "model default-1" in err  # no registry yet: the shipped default

    code, out, err = cli(capsys, "train", "--db", db, "--account", "acme", "--entity", "contact")
    assert code == 0, err
    assert out == "contact\tcrm-dedup-acme-contact\t1\tchampion\n"

    code, _, err = cli(capsys, "scan", "--db", db, "--account", "acme", "--entity", "contact")
    assert code == 0, err
    champion, after = last_scan(db)
    assert champion == "crm-dedup-acme-contact@v1" and "model crm-dedup-acme-contact@v1" in err
    # what was learned applies: the champion (retrained weights, its re-ranker) scores the pairs anew
    assert after != before



def test_scan_after_train_uses_the_champion_trained_with_the_accounts_own_fields(tmp_path, capsys):
    db = tmp_path / "store.duckdb"
    store = labeled_store(db)
    store.set_extra_fields("acme", "contact", [ExtraField("city", "text", "Город")])
    store.close()
    code, _, err = cli(capsys, "scan", "--db", db, "--account", "acme", "--entity", "contact")
    assert code == 0, err
    fitted, _ = last_scan(db)
    assert fitted == "default-1+fitted:city"  # the shipped model knows no city: fitted on the account first

    code, _, err = cli(capsys, "train", "--db", db, "--account", "acme", "--entity", "contact")
    assert code == 0, err
    code, _, err = cli(capsys, "scan", "--db", db, "--account", "acme", "--entity", "contact")
    assert code == 0, err
    champion, _ = last_scan(db)
    # the champion was trained with the city field: used as is, not fitted anew (which would drop its re-ranker)
    assert champion == "crm-dedup-acme-contact@v1" and err.rstrip().endswith("model crm-dedup-acme-contact@v1")
