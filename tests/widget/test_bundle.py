"""The widget bundle: what the archive holds, the manifest amoCRM reads, texts in both languages, logos."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import struct
import sys
import zipfile
import zlib

import pytest

from tests.widget.conftest import WIDGET

BUNDLE = ["manifest.json", "script.js", "amo_merge.js", "i18n/ru.json", "i18n/en.json", "images/logo.png",
          "images/logo_main.png", "images/logo_medium.png", "images/logo_min.png", "images/logo_small.png"]


def texts(locale: str) -> dict:
    return json.loads((WIDGET / "i18n" / f"{locale}.json").read_text(encoding="utf-8"))


def tiny_png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    rows = b"".join(b"\x00" + b"\xff\xff\xff" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def test_archive_holds_the_bundle_with_manifest_at_its_root(build, tmp_path):
    out = tmp_path / "dist" / "crm-dedup-widget.zip"
    members = build.build(WIDGET, out)
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
        manifest = json.loads(archive.read("manifest.json"))
        script = archive.read("script.js")
    # amoCRM reads manifest.json from the archive's root, not from a folder; no .py or test files go in
    assert names == members == BUNDLE
    assert manifest == json.loads((WIDGET / "manifest.json").read_text(encoding="utf-8"))
    assert script == (WIDGET / "script.js").read_bytes()
    assert not (tmp_path / "dist" / "crm-dedup-widget.zip.part").exists()


def test_same_files_give_the_same_archive_bytes(build, tmp_path):
    first, second = tmp_path / "a.zip", tmp_path / "b.zip"
    build.build(WIDGET, first)
    build.build(WIDGET, second)
    assert first.read_bytes() == second.read_bytes()


def test_manifest_declares_what_amocrm_needs():
    manifest = json.loads((WIDGET / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["widget"] == {
        "name": "widget.name", "description": "widget.description", "short_description": "widget.short_description",
        "version": "0.2.0", "interface_version": 2, "init_once": False, "locale": ["ru", "en"], "installation": True}
    # contact, company and deal cards (-1: the widget's panel is shown), and the settings page
    # the cards, the contacts and deals lists (rows ticked -> the widget in the selection menu), the settings
    assert manifest["locations"] == ["ccard-1", "comcard-1", "lcard-1", "clist-1", "llist-1", "settings"]
    # who may search and merge: amoCRM's `users` field ({user_id: value}); sound and entities: a `custom` field
    assert manifest["settings"] == {
        "service_url": {"name": "settings.service_url", "type": "text", "required": True},
        "allowed_users": {"name": "settings.allowed_users", "type": "users", "required": False},
        "options": {"name": "settings.options", "type": "custom", "required": False}}


@pytest.mark.parametrize("locale", ["ru", "en"])
def test_every_text_the_widget_shows_is_in_each_language(build, locale):
    used = build.used_keys((WIDGET / "script.js").read_text(encoding="utf-8"))
    own = texts(locale)
    # exactly the texts script.js asks for: none missing (a bare key on screen), none left over
    assert set(own["dedup"]) == used
    assert all(isinstance(own["dedup"][k], str) and own["dedup"][k].strip() for k in used)
    assert set(own["widget"]) == {"name", "description", "short_description"}
    assert set(own["settings"]) == {"service_url", "allowed_users", "options"}


def test_texts_with_placeholders_keep_them_in_each_language():
    ru, en = texts("ru")["dedup"], texts("en")["dedup"]
    assert {k: set(re.findall(r"\{\w+\}", v)) for k, v in ru.items()} == {
        k: set(re.findall(r"\{\w+\}", v)) for k, v in en.items()}
    assert ru["frame_title"] == "Возможные дубли: {count}"


def test_committed_logos_are_what_draw_logos_draws(build, monkeypatch):
    # draw_logos imports build as a sibling script; lend it ours for the import, restored afterwards
    monkeypatch.setitem(sys.modules, "build", build)
    spec = importlib.util.spec_from_file_location("widget_draw_logos", WIDGET / "draw_logos.py")
    assert spec is not None and spec.loader is not None
    draw_logos = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(draw_logos)
    for name, (width, height) in draw_logos.REQUIRED_IMAGES.items():
        assert (WIDGET / "images" / name).read_bytes() == draw_logos.png_bytes(width, height), name


def _edit_json(path, edit):
    data = json.loads(path.read_text(encoding="utf-8"))
    edit(data)
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def _drop_english_title(root):
    _edit_json(root / "i18n" / "en.json", lambda d: d["dedup"].pop("frame_title"))


def _interface_version_1(root):
    _edit_json(root / "manifest.json", lambda d: d["widget"].update(interface_version=1))


def _locations(*values):
    return lambda root: _edit_json(root / "manifest.json", lambda d: d.update(locations=list(values)))


def _small_logo(root):
    (root / "images" / "logo_min.png").write_bytes(tiny_png(10, 10))


def _logo_not_png(root):
    (root / "images" / "logo.png").write_text("не картинка", encoding="utf-8")


def _manifest_not_json(root):
    (root / "manifest.json").write_text("{«не json»}", encoding="utf-8")


def _new_text_nowhere(root):
    script = root / "script.js"
    script.write_text(script.read_text(encoding="utf-8").replace("t('frame_hint')", "t('frame_hint_v2')"),
                      encoding="utf-8")


def _no_on_save(root):
    script = root / "script.js"
    script.write_text(script.read_text(encoding="utf-8").replace("onSave:", "on_save:"), encoding="utf-8")


def _setting_without_type(root):
    _edit_json(root / "manifest.json", lambda d: d["settings"]["service_url"].pop("type"))


@pytest.mark.parametrize(("breakage", "problems"), [
    (_drop_english_title, ["i18n/en.json: no text for dedup.frame_title",
                           "i18n/en.json: dedup.frame_title is in i18n/ru.json but not here"]),
    (_interface_version_1, ["manifest.json: widget.interface_version must be 2, got 1"]),
    # amoCRM's area names, not ours; "ccard" alone lacks the -0/-1 panel flag
    (_locations("ccard", "contact_card", "ccard-2"), [
        "manifest.json: card location 'ccard' needs -0 or -1 (hidden or shown panel)",
        "manifest.json: unknown location 'contact_card'", "manifest.json: unknown location 'ccard-2'"]),
    (_locations("settings"), [
        "manifest.json: no card location (ccard-1, comcard-1 or lcard-1): the widget would never run"]),
    (_small_logo, ["images/logo_min.png: 10x10 px, amoCRM wants 84x84"]),
    (_logo_not_png, ["images/logo.png: not a PNG"]),
    (_manifest_not_json, [
        "manifest.json: not valid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"]),
    (_new_text_nowhere, ["i18n/ru.json: no text for dedup.frame_hint_v2",
                         "i18n/en.json: no text for dedup.frame_hint_v2"]),
    (_no_on_save, ["script.js: callbacks.onSave is missing"]),
    (_setting_without_type, [
        "manifest.json: settings.service_url.type must be one of ['custom', 'pass', 'text', 'users', 'users_lp']"]),
], ids=["text-missing-in-english", "interface-version-1", "bad-locations", "no-card-location", "logo-wrong-size",
        "logo-not-png", "manifest-not-json", "script-text-in-no-language", "callback-missing", "setting-type-missing"])
def test_broken_bundle_is_refused_with_every_problem_named(build, tmp_path, breakage, problems):
    root = tmp_path / "widget"
    shutil.copytree(WIDGET, root, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    breakage(root)
    out = tmp_path / "widget.zip"
    with pytest.raises(build.BundleError) as caught:
        build.build(root, out)
    assert caught.value.problems == problems
    assert not out.exists()


def test_cli_reports_problems_on_stderr_and_writes_nothing(build, tmp_path, capsys):
    root = tmp_path / "widget"
    shutil.copytree(WIDGET, root, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    _interface_version_1(root)
    out = tmp_path / "widget.zip"
    code = build.main(["--root", str(root), "--out", str(out)])
    assert (code, capsys.readouterr().err, out.exists()) == (
        1, "the widget bundle has problems:\n  - manifest.json: widget.interface_version must be 2, got 1\n", False)
    assert build.main(["--root", str(WIDGET), "--out", str(out)]) == 0
    assert capsys.readouterr().err == f"wrote {out} (10 files)\n"
