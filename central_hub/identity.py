"""The hub's identity on disk: signing key, encryption key, name, session secret.

``init_hub_files`` creates them once (refusing to overwrite anything); ``load_identity``
reads them, refusing key files that group or others can read; ``rotate_signing_key``
replaces the signing and encryption keys and returns the old signing key, so the caller
can sign the ``hub.key_rotated`` statement with it.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from protocol.keys import PrivateKey, load_private_key, save_private_key

from .config import HUB_JSON, RETIRED_KEYS, HubConfig
from .errors import HubError, NotInitialised


@dataclass(frozen=True)
class HubIdentity:
    name: str
    signing_key: PrivateKey
    encryption_key: X25519PrivateKey

    @property
    def public_hex(self) -> str:
        return self.signing_key.public.hex

    @property
    def encryption_public_hex(self) -> str:
        return self.encryption_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()

    @property
    def fingerprint(self) -> str:
        return self.signing_key.public.fingerprint


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _x25519_pem(key: X25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def load_x25519(path: Path) -> X25519PrivateKey:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise NotInitialised(f"{path} does not exist: run `central-hub init` first") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise HubError(f"key file {path} is readable by others; run: chmod 600 {path}",
                       code="key_insecure_permissions")
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, X25519PrivateKey):
        raise HubError(f"{path} does not hold an X25519 key", code="key_invalid")
    return key


def init_hub_files(config: HubConfig, name: str) -> HubIdentity:
    """Create the key files, hub.json and the session secret in a new data directory."""
    data_dir = config.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    for path in (config.key_path, config.enc_key_path, config.json_path):
        if path.exists():
            raise HubError(f"{path} already exists: {data_dir} is already a hub",
                           code="hub_exists")
    signing = PrivateKey.generate()
    encryption = X25519PrivateKey.generate()
    save_private_key(signing, config.key_path)
    _write_private(config.enc_key_path, _x25519_pem(encryption))
    if not config.session_secret_path.exists():
        _write_private(config.session_secret_path, secrets.token_urlsafe(48).encode("ascii"))
    settings = {"name": name}
    _write_private(config.json_path, json.dumps(settings, ensure_ascii=False,
                                                indent=2).encode("utf-8"))
    return HubIdentity(name, signing, encryption)


def load_identity(config: HubConfig) -> HubIdentity:
    if not (config.data_dir / HUB_JSON).exists():
        raise NotInitialised(f"{config.data_dir} is not a hub data directory: run "
                             "`central-hub init` first")
    return HubIdentity(config.name, load_private_key(config.key_path),
                       load_x25519(config.enc_key_path))


def load_session_secret(config: HubConfig) -> str:
    if config.session_secret:
        return config.session_secret
    try:
        return config.session_secret_path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise NotInitialised(f"{config.session_secret_path} does not exist") from None


def rotate_key_files(config: HubConfig, seq: int) -> tuple[HubIdentity, PrivateKey]:
    """Replace the hub's keys; return the new identity and the old signing key.

    The old keys are kept (0600) under ``retired-keys/`` with the rotation's number.
    """
    old = load_identity(config)
    retired = config.data_dir / RETIRED_KEYS
    retired.mkdir(mode=0o700, exist_ok=True)
    new_signing = PrivateKey.generate()
    new_encryption = X25519PrivateKey.generate()
    staged_key = config.key_path.with_suffix(".key.new")
    staged_enc = config.enc_key_path.with_suffix(".key.new")
    for staged in (staged_key, staged_enc):
        staged.unlink(missing_ok=True)
    save_private_key(new_signing, staged_key)
    _write_private(staged_enc, _x25519_pem(new_encryption))
    os.replace(config.key_path, retired / f"hub-{seq:04d}.key")
    os.replace(config.enc_key_path, retired / f"hub-enc-{seq:04d}.key")
    os.replace(staged_key, config.key_path)
    os.replace(staged_enc, config.enc_key_path)
    return HubIdentity(old.name, new_signing, new_encryption), old.signing_key
