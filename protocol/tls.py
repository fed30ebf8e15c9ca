"""TLS pins: how a node knows the hub's certificate without a certificate authority.

A *pin* is SHA-256 of the DER ``SubjectPublicKeyInfo`` of the hub's TLS certificate, as 64
lowercase hex characters. Pinning the public key rather than the whole certificate means
a certificate re-issued with the same key (new validity, other host names) keeps its pin;
only a new key needs a rotation (``current`` and ``next``, below).

Where pins travel (SPEC.md section 15, docs/sync.md "Transport security"):

* **Enrolment token.** ``central-hub enroll-token`` appends the pin of the hub's current
  certificate to the printed token after a dot::

      7KQ2-M9XD-...-AB.<pin in Crockford base 32, 52 characters, and 2 check characters>

  The pin part is grouped by four like the token, and checked by its own two check
  characters (so a mistyped pin is told apart from a wrong hub). Only the part before the
  dot is the one-time token the hub knows; a node sends only that part.
* **config.tls.** A hub-signed configuration (``protocol.config_docs``) whose content is
  ``{"current": "<pin>", "next": "<pin>"}`` (``next`` optional). It is not listed in the
  manifest (older nodes refuse unknown kinds there); the hub adds its newest signed
  document to the manifest answer as the optional sibling field ``"tls"``, which older
  nodes ignore. A node trusts exactly the pins of the newest config.tls it verified.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from .errors import ProtocolError

CONFIG_TLS = "config.tls"
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"   # Crockford base 32
_TRANSLATE = str.maketrans({"O": "0", "I": "1", "L": "1"})
PIN_CHARS = 52          # 256 bits in base 32 (260 bits, the top 4 are zero)
PIN_CHECK_CHARS = 2
_PIN_RE = re.compile(r"^[0-9a-f]{64}$")


class TlsPinError(ProtocolError):
    code = "tls_pin_invalid"


def spki_pin(cert_der: bytes) -> str:
    """The pin (hex SHA-256 of the SubjectPublicKeyInfo) of a DER certificate."""
    cert = x509.load_der_x509_certificate(cert_der)
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).hexdigest()


def pem_pin(cert_pem: bytes) -> str:
    """The pin of the first certificate of a PEM file's bytes."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    return spki_pin(cert.public_bytes(serialization.Encoding.DER))


def check_pin(value: Any, field: str = "pin") -> str:
    if not isinstance(value, str) or not _PIN_RE.match(value):
        raise TlsPinError(f"{field} must be 64 lowercase hex characters (SHA-256 of the "
                          "certificate's public key)", field=field)
    return value


def _pin_check(body: str) -> str:
    digest = hashlib.sha256(("township-tls-pin:" + body).encode("ascii")).digest()
    return "".join(ALPHABET[b % 32] for b in digest[:PIN_CHECK_CHARS])


def encode_token_pin(pin: str) -> str:
    """The pin as the token's suffix: Crockford base 32, check characters, groups of 4."""
    number = int(check_pin(pin), 16)
    body = "".join(ALPHABET[(number >> (5 * i)) & 31] for i in reversed(range(PIN_CHARS)))
    text = body + _pin_check(body)
    return "-".join(text[i:i + 4] for i in range(0, len(text), 4))


def decode_token_pin(text: str) -> str:
    """The hex pin of a typed token suffix; ``tls_pin_invalid`` when it is mistyped."""
    cleaned = "".join(ch for ch in text.upper() if ch not in " -\t").translate(_TRANSLATE)
    if len(cleaned) != PIN_CHARS + PIN_CHECK_CHARS or any(ch not in ALPHABET for ch in cleaned):
        raise TlsPinError(f"the certificate fingerprint after the dot must be "
                          f"{PIN_CHARS + PIN_CHECK_CHARS} characters of 0-9 and A-Z",
                          field="token")
    body, check = cleaned[:PIN_CHARS], cleaned[PIN_CHARS:]
    if _pin_check(body) != check:
        raise TlsPinError("the certificate fingerprint in the token is mistyped (its check "
                          "characters do not match)", field="token")
    number = 0
    for ch in body:
        number = number * 32 + ALPHABET.index(ch)
    if number >> 256:
        raise TlsPinError("the certificate fingerprint in the token is too large",
                          field="token")
    return f"{number:064x}"


def split_token(text: str) -> tuple[str, str | None]:
    """``(one-time token, hex pin or None)`` of a typed enrolment token."""
    if not isinstance(text, str):
        return "", None
    token, dot, suffix = text.strip().partition(".")
    return token.strip(), (decode_token_pin(suffix) if dot else None)


def validate_tls_content(content: Any) -> tuple[str, ...]:
    """The pins of a config.tls content ``{"current": pin, "next": pin?}``, current first."""
    if not isinstance(content, dict) or "current" not in content \
            or not set(content) <= {"current", "next"}:
        raise TlsPinError('config.tls content must be {"current": pin, "next": pin} '
                          '("next" optional)', field="content")
    pins = [check_pin(content["current"], "current")]
    if content.get("next") is not None:
        pins.append(check_pin(content["next"], "next"))
    return tuple(dict.fromkeys(pins))


__all__ = ["CONFIG_TLS", "TlsPinError", "check_pin", "decode_token_pin", "encode_token_pin",
           "pem_pin", "spki_pin", "split_token", "validate_tls_content"]
