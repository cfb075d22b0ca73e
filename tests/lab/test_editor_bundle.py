"""The vendored editor bundle (static/vendor/codemirror/) and the pins it was built from
(frontend/codemirror/): what `make editor` committed is whole, self-contained and licensed."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
FRONTEND = ROOT / "frontend" / "codemirror"
VENDOR = ROOT / "static" / "vendor" / "codemirror"
BUNDLE = VENDOR / "lab-editor.js"
LICENSES = VENDOR / "LICENSES.txt"
EXACT_VERSION = re.compile(r"^\d+\.\d+\.\d+$")
# The only URL CodeMirror carries is the SVG namespace (createElementNS), never fetched.
NAMESPACES = {"http://www.w3.org/2000/svg"}


def package_json() -> dict[str, Any]:
    return json.loads((FRONTEND / "package.json").read_text())


def lock() -> dict[str, Any]:
    return json.loads((FRONTEND / "package-lock.json").read_text())


def declared() -> dict[str, str]:
    manifest = package_json()
    return {**manifest["dependencies"], **manifest["devDependencies"]}


def licensed() -> dict[str, str]:
    """Package name -> version, from the heading line of each notice in LICENSES.txt."""
    pattern = re.compile(r"^(@?[\w.-]+(?:/[\w.-]+)?) (\d+\.\d+\.\d+) \(MIT\)$", re.MULTILINE)
    return dict(pattern.findall(LICENSES.read_text()))


def test_the_bundle_exists_and_is_a_whole_editor() -> None:
    size = BUNDLE.stat().st_size
    assert 150_000 < size < 1_000_000, size
    text = BUNDLE.read_text()
    assert re.search(r"\bwindow\.LabEditor\s*=", text)
    assert "create" in text
    # One IIFE after the licence banner (minified: no file of its own is left to load).
    banner, _, code = text.partition("*/")
    assert banner.startswith("/*! lab-editor.js")
    assert code.strip().startswith("(()=>{") and code.strip().endswith("})();")


def test_the_bundle_loads_nothing_from_elsewhere() -> None:
    text = BUNDLE.read_text()
    assert "import(" not in text
    assert "importScripts" not in text
    assert set(re.findall(r"https?://[^\"'`\s)]*", text)) <= NAMESPACES


def test_the_bundle_mounts_its_styles_as_constructed_sheets() -> None:
    """build.mjs patches style-mod so CodeMirror's CSS never needs a <style> element, which
    the site's CSP (style-src 'self') refuses; an unpatched rebuild would bring it back."""
    text = BUNDLE.read_text()
    assert "adoptedStyleSheets" in text
    assert not re.search(r"!\w+\.head&&\w+\.adoptedStyleSheets", text)


def test_package_json_pins_exact_versions_and_the_lock_file_has_each() -> None:
    wanted = declared()
    for name in (
        "codemirror",
        "@codemirror/state",
        "@codemirror/view",
        "@codemirror/commands",
        "@codemirror/language",
        "@codemirror/lang-python",
        "@codemirror/search",
        "esbuild",
    ):
        assert name in wanted, name
    assert "esbuild" in package_json()["devDependencies"]
    packages = lock()["packages"]
    root = packages[""]
    assert {**root["dependencies"], **root["devDependencies"]} == wanted
    for name, version in wanted.items():
        assert EXACT_VERSION.match(version), f"{name} {version} is a range, not a pin"
        assert packages[f"node_modules/{name}"]["version"] == version, name


def test_every_locked_package_comes_with_its_integrity() -> None:
    """`npm ci` checks each download against its hash. (The lock names no registry address:
    npm here is set to omit-lockfile-registry-resolved, and npm ci uses the configured one.)"""
    packages = lock()["packages"]
    assert lock()["lockfileVersion"] >= 2
    for path, entry in packages.items():
        if path and not entry.get("link"):
            assert entry.get("integrity", "").startswith("sha512-"), path


def test_licenses_name_each_bundled_package_at_its_locked_version() -> None:
    packages = lock()["packages"]
    notices = licensed()
    # Every runtime dependency is in the bundle; the dev one (esbuild) is not.
    assert set(package_json()["dependencies"]) <= set(notices)
    assert "esbuild" not in notices
    for name, version in notices.items():
        entry = packages.get(f"node_modules/{name}")
        assert entry is not None, f"{name} is in LICENSES.txt but not in the lock file"
        assert entry["version"] == version, name
        assert entry.get("license") == "MIT", name
    assert LICENSES.read_text().count("Permission is hereby granted, free of charge") >= len(
        notices
    )


def test_node_modules_stay_out_of_git() -> None:
    ignored = (FRONTEND / ".gitignore").read_text().split()
    assert "node_modules/" in ignored
