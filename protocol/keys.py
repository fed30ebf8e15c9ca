"""Ed25519 keys and the verification rules of SPEC.md section 4.

Libraries disagree at the edges of Ed25519, so the protocol fixes them here, before a
signature ever reaches the library:

* a public key must be a canonical encoding (y < p) of a point on the curve that is not
  of small order;
* a signature must be 64 bytes whose S half is canonical (S < L) and whose R half is a
  canonical encoding;
* then the cofactorless RFC 8032 equation is checked by ``cryptography`` (OpenSSL).

This module does the protocol's only file I/O: private keys are stored as PKCS#8 PEM with
mode 0600, and a key file that group or others can read is refused.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from .errors import KeyError_, SignatureError

ALG_ED25519 = "ed25519-sha256"
SUPPORTED_ALGS = (ALG_ED25519,)

# Curve constants (RFC 8032 section 5.1).
_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = (-121665 * pow(121666, _P - 2, _P)) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


def _decode_point(data: bytes) -> tuple[int, int] | None:
    """Decode a point encoding; None if not canonical or not on the curve."""
    if len(data) != 32:
        return None
    y = int.from_bytes(data, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    if y >= _P:
        return None
    u = (y * y - 1) % _P
    v = (_D * y * y + 1) % _P
    x = (u * pow(v, 3, _P) * pow(u * pow(v, 7, _P), (_P - 5) // 8, _P)) % _P
    if (v * x * x - u) % _P != 0:
        x = (x * _SQRT_M1) % _P
        if (v * x * x - u) % _P != 0:
            return None
    if x == 0 and sign:
        return None
    if x & 1 != sign:
        x = _P - x
    return x, y


def _double(pt: tuple[int, int]) -> tuple[int, int]:
    x, y = pt
    xx, yy, xy = x * x % _P, y * y % _P, x * y % _P
    dxy = _D * xx % _P * yy % _P
    return (2 * xy * pow(1 + dxy, _P - 2, _P) % _P,
            (yy + xx) * pow(1 - dxy, _P - 2, _P) % _P)


def _is_small_order(pt: tuple[int, int]) -> bool:
    for _ in range(3):
        pt = _double(pt)
    return pt == (0, 1)


def check_public_key(raw: bytes) -> None:
    """Raise ``KeyError_`` unless ``raw`` is an acceptable Ed25519 public key."""
    if not isinstance(raw, (bytes, bytearray)) or len(raw) != 32:
        raise KeyError_("public key must be 32 bytes", field="public_key")
    point = _decode_point(bytes(raw))
    if point is None:
        raise KeyError_("public key is not a canonical encoding of a curve point",
                        field="public_key")
    if _is_small_order(point):
        raise KeyError_("public key is a point of small order", field="public_key")


class PublicKey:
    """A checked Ed25519 public key."""

    __slots__ = ("raw", "_key")

    def __init__(self, raw: bytes) -> None:
        check_public_key(raw)
        self.raw = bytes(raw)
        self._key = Ed25519PublicKey.from_public_bytes(self.raw)

    @classmethod
    def from_hex(cls, text: str) -> "PublicKey":
        try:
            raw = bytes.fromhex(text)
        except (ValueError, TypeError):
            raise KeyError_("public key must be 64 hexadecimal characters",
                            field="public_key") from None
        return cls(raw)

    @property
    def hex(self) -> str:
        return self.raw.hex()

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.raw)

    def verify(self, signature: bytes, message: bytes) -> None:
        """Raise ``SignatureError`` unless ``signature`` is valid for ``message``."""
        check_signature_shape(signature)
        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            raise SignatureError("signature does not verify with the signer's key",
                                 field="signature") from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicKey) and other.raw == self.raw

    def __hash__(self) -> int:
        return hash(self.raw)

    def __repr__(self) -> str:
        return f"PublicKey({self.fingerprint})"


def check_signature_shape(signature: bytes) -> None:
    if not isinstance(signature, (bytes, bytearray)) or len(signature) != 64:
        raise SignatureError("signature must be 64 bytes", code="signature_malformed",
                             field="signature")
    r_y = int.from_bytes(signature[:32], "little") & ((1 << 255) - 1)
    if r_y >= _P:
        raise SignatureError("signature R is not a canonical point encoding",
                             code="signature_malformed", field="signature")
    if int.from_bytes(signature[32:], "little") >= _L:
        raise SignatureError("signature S is not reduced modulo L (malleable)",
                             code="signature_malformed", field="signature")


class PrivateKey:
    """An Ed25519 signing key."""

    __slots__ = ("_key", "public")

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public = PublicKey(key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw))

    @classmethod
    def generate(cls) -> "PrivateKey":
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> "PrivateKey":
        """Deterministic key from 32 seed bytes (test vectors, benchmarks)."""
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    def seed(self) -> bytes:
        return self._key.private_bytes(serialization.Encoding.Raw,
                                       serialization.PrivateFormat.Raw,
                                       serialization.NoEncryption())

    def to_pem(self) -> bytes:
        return self._key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption())


def fingerprint(raw: bytes) -> str:
    """Short human-comparable fingerprint: first 10 bytes of SHA-256, in groups of 4 hex."""
    digest = hashlib.sha256(raw).hexdigest()[:20]
    return "-".join(digest[i:i + 4] for i in range(0, 20, 4))


def save_private_key(key: PrivateKey, path: str | os.PathLike) -> None:
    """Write ``key`` as PEM readable by its owner only; refuses to overwrite a file."""
    path = Path(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, key.to_pem())
        os.fsync(fd)
    finally:
        os.close(fd)


def load_private_key(path: str | os.PathLike) -> PrivateKey:
    """Load a PEM private key, refusing one that group or others may read."""
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise KeyError_(f"key file {path} does not exist", field="key_file") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyError_(f"key file {path} is readable by others (mode "
                        f"{stat.S_IMODE(st.st_mode):04o}); run: chmod 600 {path}",
                        code="key_insecure_permissions", field="key_file")
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError):
        raise KeyError_(f"key file {path} is not a PEM private key", field="key_file") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyError_(f"key file {path} does not hold an Ed25519 key", field="key_file")
    return PrivateKey(key)
