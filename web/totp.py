"""TOTP second factors (RFC 6238, via ``pyotp``): 6 digits, 30-second steps, SHA-1 (what
every authenticator app reads from an ``otpauth://`` QR code).

A code is accepted for the current step and one step either side (clock drift of a phone);
:func:`matching_step` returns the step it matched so the caller can record it and refuse
that step, or any earlier one, again (a code is good once).
"""

from __future__ import annotations

import hmac
import re

import pyotp
import segno
from markupsafe import Markup

STEP_SECONDS = 30
_CODE_RE = re.compile(r"^[0-9]{6}$")


def new_secret() -> str:
    """A random base32 secret (160 bits)."""
    return pyotp.random_base32(32)


def normalise_code(value: str) -> str:
    """The code as typed, without spaces (some apps show ``123 456``)."""
    return "".join((value or "").split())[:16]


def matching_step(secret: str, code: str, now: float, *, drift_steps: int = 1) -> int | None:
    """The time step whose code equals ``code`` (now, then one either side); else None."""
    if not _CODE_RE.match(code or ""):
        return None
    totp = pyotp.TOTP(secret)
    current = int(now // STEP_SECONDS)
    for step in sorted(range(current - drift_steps, current + drift_steps + 1),
                       key=lambda s: abs(s - current)):
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            return step
    return None


def code_at(secret: str, now: float) -> str:
    """The code of the step containing ``now`` (what the user's app shows)."""
    return pyotp.TOTP(secret).at(int(now))


def provisioning_uri(secret: str, account_name: str, issuer: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=account_name, issuer_name=issuer)


def qr_svg(uri: str) -> Markup:
    """The ``otpauth://`` URI as an inline SVG QR code (no script, no style: CSP-safe)."""
    return Markup(segno.make(uri, error="m").svg_inline(scale=4, border=2))


def grouped(secret: str) -> str:
    """The secret in groups of four, for typing it by hand."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))
