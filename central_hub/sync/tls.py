"""The hub's TLS certificate: make, renew, rotate, and publish its pins (protocol/tls.py).

Files (mode 0600) in the data directory::

    tls/hub.crt, tls/hub.key     the certificate ``serve --tls-cert/--tls-key`` is given
    tls/next.crt, tls/next.key   the next one, while a rotation is announced

``central-hub tls-cert`` re-issues ``hub.crt`` with the same key (the pin is unchanged);
``--next`` makes a new key and certificate and publishes ``config.tls`` with the current
and the next pin, so enrolled nodes learn both at their next sync; ``--promote`` makes
the next certificate the current one (the old one is kept as ``tls/retired-<n>.*``) and
publishes ``config.tls`` with the new current pin. Restart ``serve`` after a promotion.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from protocol.tls import CONFIG_TLS, pem_pin, spki_pin
from web.transport import write_self_signed

from ..config import HubConfig
from ..errors import HubError
from ..identity import HubIdentity
from .publication import publish_config
from ..store import HubStore

TLS_DIR = "tls"


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path
    next_cert: Path
    next_key: Path


def tls_files(config: HubConfig) -> TlsFiles:
    base = config.data_dir / TLS_DIR
    return TlsFiles(base / "hub.crt", base / "hub.key", base / "next.crt", base / "next.key")


def file_pin(path: Path) -> str | None:
    return pem_pin(path.read_bytes()) if path.is_file() else None


def current_pins(config: HubConfig) -> tuple[str | None, str | None]:
    files = tls_files(config)
    return file_pin(files.cert), file_pin(files.next_cert)


def publish_pins(store: HubStore, identity: HubIdentity, config: HubConfig,
                 by: str = "admin") -> dict:
    """Publish config.tls with the pins of tls/hub.crt and tls/next.crt; return content."""
    current, next_ = current_pins(config)
    if current is None:
        raise HubError(f"no TLS certificate in {tls_files(config).cert}: run "
                       "`central-hub tls-cert` first", code="tls_missing")
    content = {"current": current}
    if next_ is not None and next_ != current:
        content["next"] = next_
    latest = store.config(CONFIG_TLS)
    if latest is None or _content(latest) != content:
        publish_config(store, identity, config, CONFIG_TLS, content, by)
    return content


def _content(record) -> dict:
    return json.loads(record.canonical)["body"]["content"]


def make_certificate(config: HubConfig, names: tuple[str, ...], *, new_key: bool) -> str:
    """Write (or re-issue) tls/hub.crt; return its pin."""
    files = tls_files(config)
    files.cert.parent.mkdir(mode=0o700, exist_ok=True)
    der = write_self_signed(files.cert, files.key, names, common_name=config.name,
                            new_key=new_key)
    return spki_pin(der)


def make_next(config: HubConfig, names: tuple[str, ...]) -> str:
    files = tls_files(config)
    if not files.cert.is_file():
        raise HubError("there is no current TLS certificate to rotate: run "
                       "`central-hub tls-cert` first", code="tls_missing")
    der = write_self_signed(files.next_cert, files.next_key, names, common_name=config.name,
                            new_key=True)
    return spki_pin(der)


def promote_next(config: HubConfig) -> str:
    """Make tls/next.* the current certificate; keep the old one as tls/retired-<n>.*."""
    files = tls_files(config)
    if not (files.next_cert.is_file() and files.next_key.is_file()):
        raise HubError("no next TLS certificate: run `central-hub tls-cert --next` first, "
                       "and let the nodes sync", code="tls_next_missing")
    n = 1
    while (files.cert.parent / f"retired-{n}.crt").exists():
        n += 1
    files.cert.replace(files.cert.parent / f"retired-{n}.crt")
    files.key.replace(files.cert.parent / f"retired-{n}.key")
    files.next_cert.replace(files.cert)
    files.next_key.replace(files.key)
    return file_pin(files.cert) or ""


__all__ = ["TLS_DIR", "TlsFiles", "current_pins", "file_pin", "make_certificate",
           "make_next", "promote_next", "publish_pins", "tls_files"]
