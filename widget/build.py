"""Check the amoCRM widget bundle and pack it as a zip with manifest.json at the archive's root.

amoCRM reads manifest.json, script.js, i18n/<locale>.json and the logos in images/ from the root
of the uploaded archive (widget docs: "manifest.json", "images/"), so the files are stored with
paths relative to widget/. Every problem found is reported at once, before anything is written.
Standard library only, so `make widget` needs no virtualenv.

    python widget/build.py [--out dist/crm-dedup-widget.zip]
"""

from __future__ import annotations

import argparse
import json
import re
import struct
import sys
import zipfile
from pathlib import Path
from typing import Any

WIDGET_DIR = Path(__file__).resolve().parent
DEFAULT_OUT = WIDGET_DIR.parent / "dist" / "crm-dedup-widget.zip"

# logos amoCRM requires for a widget shown in cards, name -> (width, height); each at most 300 KB
REQUIRED_IMAGES: dict[str, tuple[int, int]] = {
    "logo_min.png": (84, 84),
    "logo_medium.png": (240, 84),
    "logo_main.png": (400, 272),
    "logo.png": (130, 100),
    "logo_small.png": (108, 108),
}
MAX_IMAGE_BYTES = 300 * 1024
# the connection areas of amoCRM's widget docs ("Widget locations"); card areas carry -0 / -1
AREAS = {"lcard", "ccard", "comcard", "llist", "clist", "tlist", "settings", "advanced_settings", "card_sdk",
         "catalogs", "digital_pipeline", "lead_sources", "widget_page", "sms", "mobile_card",
         "salesbot_designer", "website_chat_button", "everywhere"}
CARD_AREAS = {"lcard", "ccard", "comcard"}
SETTING_TYPES = {"text", "pass", "users", "users_lp", "custom"}  # manifest "settings" field types
CALLBACKS = ("render", "init", "bind_actions", "settings", "onSave", "destroy")
# modules script.js loads from the widget's folder (require([params.path + "/<name>"])): the merge adapter
MODULES = ("amo_merge.js",)
I18N_SECTION = "dedup"  # script.js reads its texts as self.i18n("dedup")[key] through t(key)
_USED_KEY = re.compile(r"\bt\('([^']+)'")
_LOCATION = re.compile(r"(?P<area>[a-z_]+)(-(?P<mode>[01]))?")
_VERSION = re.compile(r"\d+\.\d+\.\d+")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the zip's oldest date: the same files give the same archive bytes


class BundleError(Exception):
    """The bundle cannot be packed; `problems` lists everything wrong, one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("the widget bundle has problems:\n" + "\n".join(f"  - {p}" for p in problems))
        self.problems = problems


def _load_json(root: Path, name: str, problems: list[str]) -> Any:
    try:
        return json.loads((root / name).read_text(encoding="utf-8"))
    except FileNotFoundError:
        problems.append(f"{name}: missing")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        problems.append(f"{name}: not valid JSON: {exc}")
    return None


def _lookup(texts: dict[str, Any], dotted: str) -> Any:
    node: Any = texts
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def used_keys(script: str) -> set[str]:
    """The i18n keys script.js reads through its t('key') helper."""
    return set(_USED_KEY.findall(script))


def _check_widget(widget: Any, problems: list[str]) -> list[str]:
    """Problems of manifest.widget; the i18n keys it names."""
    if not isinstance(widget, dict):
        problems.append("manifest.json: `widget` must be an object")
        return []
    keys = []
    for field in ("name", "description", "short_description"):
        value = widget.get(field)
        if not isinstance(value, str) or "." not in value:
            problems.append(f"manifest.json: widget.{field} must be an i18n key such as 'widget.{field}'")
        else:
            keys.append(value)
    if not isinstance(widget.get("version"), str) or not _VERSION.fullmatch(widget["version"]):
        problems.append(f"manifest.json: widget.version must look like 1.0.0, got {widget.get('version')!r}")
    if widget.get("interface_version") != 2:
        problems.append(f"manifest.json: widget.interface_version must be 2, got {widget.get('interface_version')!r}")
    if not isinstance(widget.get("init_once"), bool):
        problems.append("manifest.json: widget.init_once must be true or false")
    locales = widget.get("locale")
    if not isinstance(locales, list) or not locales or not all(isinstance(x, str) for x in locales):
        problems.append("manifest.json: widget.locale must list the i18n files, e.g. [\"ru\", \"en\"]")
    return keys


def _check_locations(locations: Any, problems: list[str]) -> None:
    if not isinstance(locations, list) or not locations:
        problems.append("manifest.json: `locations` must be a non-empty list")
        return
    areas = set()
    for location in locations:
        match = _LOCATION.fullmatch(location) if isinstance(location, str) else None
        if match is None or match["area"] not in AREAS:
            problems.append(f"manifest.json: unknown location {location!r}")
            continue
        areas.add(match["area"])
        if match["area"] in CARD_AREAS and match["mode"] is None:
            problems.append(f"manifest.json: card location {location!r} needs -0 or -1 (hidden or shown panel)")
    if not areas & CARD_AREAS:
        problems.append("manifest.json: no card location (ccard-1, comcard-1 or lcard-1): the widget would never run")


def _check_settings(settings: Any, problems: list[str]) -> list[str]:
    """Problems of manifest.settings; the i18n keys it names."""
    if not isinstance(settings, dict):
        problems.append("manifest.json: `settings` must be an object")
        return []
    keys = []
    for code, field in settings.items():
        if not isinstance(field, dict):
            problems.append(f"manifest.json: settings.{code} must be an object")
            continue
        if not isinstance(field.get("name"), str):
            problems.append(f"manifest.json: settings.{code}.name must be an i18n key")
        else:
            keys.append(field["name"])
        if field.get("type") not in SETTING_TYPES:
            problems.append(f"manifest.json: settings.{code}.type must be one of {sorted(SETTING_TYPES)}")
        if not isinstance(field.get("required"), bool):
            problems.append(f"manifest.json: settings.{code}.required must be true or false")
    return keys


def _check_script(script: str, problems: list[str]) -> None:
    if not re.search(r"\bdefine\(\s*\[", script):
        problems.append("script.js: not an AMD module (define([...], function () { ... }))")
    for name in CALLBACKS:
        if not re.search(rf"\b{name}\s*:", script):
            problems.append(f"script.js: callbacks.{name} is missing")


def _png_size(path: Path) -> tuple[int, int] | None:
    head = path.read_bytes()[:24]
    if not head.startswith(_PNG_SIGNATURE) or head[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def _check_images(root: Path, problems: list[str]) -> None:
    for name, size in REQUIRED_IMAGES.items():
        path = root / "images" / name
        if not path.is_file():
            problems.append(f"images/{name}: missing (draw it with widget/draw_logos.py)")
            continue
        found = _png_size(path)
        if found is None:
            problems.append(f"images/{name}: not a PNG")
        elif found != size:
            problems.append(f"images/{name}: {found[0]}x{found[1]} px, amoCRM wants {size[0]}x{size[1]}")
        if path.stat().st_size > MAX_IMAGE_BYTES:
            problems.append(f"images/{name}: {path.stat().st_size:,} bytes, at most {MAX_IMAGE_BYTES:,}")


def validate(root: Path = WIDGET_DIR) -> list[str]:
    """Check the bundle in `root`; the archive's member names, manifest.json first.

    Raises:
        BundleError: listing every problem found (a missing file, a manifest field, an i18n key
            that script.js or the manifest uses but a locale lacks, a logo of the wrong size).
    """
    problems: list[str] = []
    manifest = _load_json(root, "manifest.json", problems)
    script_path = root / "script.js"
    script = script_path.read_text(encoding="utf-8") if script_path.is_file() else ""
    if not script:
        problems.append("script.js: missing or empty")
    else:
        _check_script(script, problems)
    for module in MODULES:
        path = root / module
        text = path.read_text(encoding="utf-8") if path.is_file() else ""
        if not text:
            problems.append(f"{module}: missing or empty")
        elif not re.search(r"\bdefine\(\s*\[", text):
            problems.append(f"{module}: not an AMD module (define([...], function () {{ ... }}))")
        elif module not in script:
            problems.append(f"script.js: never loads {module}")
    _check_images(root, problems)
    if not isinstance(manifest, dict):
        if manifest is not None:
            problems.append("manifest.json: must be a JSON object")
        raise BundleError(problems)

    keys = _check_widget(manifest.get("widget"), problems)
    _check_locations(manifest.get("locations"), problems)
    keys += _check_settings(manifest.get("settings", {}), problems)
    keys += [f"{I18N_SECTION}.{key}" for key in sorted(used_keys(script))]
    locales = [x for x in (manifest.get("widget") or {}).get("locale") or [] if isinstance(x, str)]
    own_keys: dict[str, set[str]] = {}
    for locale in locales:
        texts = _load_json(root, f"i18n/{locale}.json", problems)
        if not isinstance(texts, dict):
            continue
        for key in keys:
            text = _lookup(texts, key)
            if not isinstance(text, str) or not text.strip():
                problems.append(f"i18n/{locale}.json: no text for {key}")
        section = texts.get(I18N_SECTION)
        own_keys[locale] = set(section) if isinstance(section, dict) else set()
    # a text added to one language only would show a bare key to the other language's users
    for locale, found in own_keys.items():
        for other, theirs in own_keys.items():
            for key in sorted(theirs - found):
                problems.append(f"i18n/{locale}.json: {I18N_SECTION}.{key} is in i18n/{other}.json but not here")
    if problems:
        raise BundleError(problems)
    return (["manifest.json", "script.js", *MODULES] + [f"i18n/{locale}.json" for locale in locales]
            + [f"images/{name}" for name in sorted(REQUIRED_IMAGES)])


def build(root: Path = WIDGET_DIR, out: Path = DEFAULT_OUT) -> list[str]:
    """Validate the bundle in `root` and write it to `out` (replaced whole); the member names."""
    members = validate(root)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".part")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in members:
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, (root / name).read_bytes())
    partial.replace(out)  # a failed build never leaves half an archive under the real name
    return members


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=WIDGET_DIR, help="the widget's folder (default: widget/)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the archive to write")
    args = parser.parse_args(argv)
    try:
        members = build(args.root, args.out)
    except BundleError as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    sys.stderr.write(f"wrote {args.out} ({len(members)} files)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
