"""Static assets of the web layer: where they live and which vendored files exist.

The vendored browser libraries (htmx, ECharts) carry their version in the file name
(``vendor/htmx-2.0.11.min.js``); ``web/static/vendor/VENDORED.json``, written by
``scripts/vendor-assets``, is the single record of which files exist and their
sha256. Templates never spell a version: they ask ``vendor("htmx")``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

WEB_DIR = Path(__file__).resolve().parent
STATIC_DIR = WEB_DIR / "static"
TEMPLATES_DIR = WEB_DIR / "templates"
VENDOR_DIR = STATIC_DIR / "vendor"
VENDORED_MANIFEST = VENDOR_DIR / "VENDORED.json"


@dataclass(frozen=True)
class VendoredAsset:
    """One vendored file, as recorded in VENDORED.json."""

    name: str  # short name used by templates: "htmx", "echarts"
    version: str
    file: str  # file name inside web/static/vendor/
    sha256: str
    source: str  # npm package spec it came from, e.g. "htmx.org@2.0.11"

    @property
    def static_path(self) -> str:
        """Path relative to the static root, e.g. ``vendor/htmx-2.0.11.min.js``."""
        return f"vendor/{self.file}"

    @property
    def path(self) -> Path:
        return VENDOR_DIR / self.file


def load_vendored(manifest: Path = VENDORED_MANIFEST) -> dict[str, VendoredAsset]:
    """Read VENDORED.json and return its assets by short name."""
    data = json.loads(manifest.read_text(encoding="utf-8"))
    return {
        entry["name"]: VendoredAsset(
            name=entry["name"],
            version=entry["version"],
            file=entry["file"],
            sha256=entry["sha256"],
            source=entry["source"],
        )
        for entry in data["assets"]
    }


def vendored_files(manifest: Path = VENDORED_MANIFEST) -> dict[str, str]:
    """Short name -> static path of each vendored file, e.g. {"htmx": "vendor/htmx-2.0.11.min.js"}."""
    return {name: asset.static_path for name, asset in load_vendored(manifest).items()}


def verify_vendored(manifest: Path = VENDORED_MANIFEST) -> list[str]:
    """Return a description of every vendored file that is missing or whose sha256 differs."""
    problems = []
    for asset in load_vendored(manifest).values():
        path = manifest.parent / asset.file
        if not path.is_file():
            problems.append(f"{asset.file}: missing")
            continue
        actual = hashlib.sha256(path.read_bytes()).hexdigest()
        if actual != asset.sha256:
            problems.append(f"{asset.file}: sha256 {actual} != recorded {asset.sha256}")
    return problems


def file_fingerprint(path: Path) -> str:
    """Short content hash used as a cache-busting query string for unversioned files."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]
