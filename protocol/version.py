"""Protocol version negotiation.

A version is ``MAJOR.MINOR``. A peer accepts its own major version at its own minor or
the previous one (a hub is upgraded before its fleet, so it must keep talking to nodes one
minor behind); anything else is refused with ``version_unsupported``.
"""

from __future__ import annotations

import re

from .errors import VersionError

PROTOCOL_VERSION = (1, 1)
_VERSION_RE = re.compile(r"^(0|[1-9][0-9]{0,3})\.(0|[1-9][0-9]{0,3})$")


def version_string(version: tuple[int, int] = PROTOCOL_VERSION) -> str:
    return f"{version[0]}.{version[1]}"


def parse_version(text: object) -> tuple[int, int]:
    if not isinstance(text, str) or not _VERSION_RE.match(text):
        raise VersionError(f"protocol version must look like MAJOR.MINOR, got {text!r}",
                           field="version")
    major, minor = text.split(".")
    return int(major), int(minor)


def check_version(text: object, ours: tuple[int, int] = PROTOCOL_VERSION) -> tuple[int, int]:
    """Return the peer's version if we can talk to it, else raise ``VersionError``."""
    major, minor = parse_version(text)
    if major != ours[0]:
        raise VersionError(
            f"protocol major version {major} is not supported (this side speaks {ours[0]}.x)",
            field="version")
    if not (ours[1] - 1 <= minor <= ours[1]):
        raise VersionError(
            f"protocol version {major}.{minor} is not supported: accepted are "
            f"{ours[0]}.{max(ours[1] - 1, 0)} to {ours[0]}.{ours[1]}", field="version")
    return major, minor
