"""Masked projections of signed envelopes for API clients without the personal-data scope.

An envelope carries the applicant's identity number, phone, name and the case's query
code as the node signed them. A client whose token lacks ``personal:read`` gets a copy
with those values masked (``web.templating`` helpers: ``5101**********1234``,
``138****5678``, ``张*三``; query codes and addresses wholly hidden). A masked copy no
longer matches the node's signature, so the feed marks it ``"masked": true`` and gives no
signature or canonical bytes.
"""

from __future__ import annotations

from typing import Any, Callable

from web.templating import mask_id, mask_name, mask_phone


def _hide(value: Any) -> str:
    return "*" * len(str(value)) if value else ""


MASKS: dict[str, Callable[[Any], str]] = {
    "id_no": mask_id, "applicant_id_no": mask_id,
    "phone": mask_phone, "contact": mask_phone,
    "applicant_name": mask_name,
    "query_code": _hide, "address": _hide,
}
"""Personal fields anywhere in an event body, by key."""

PERSON_OBJECTS = frozenset({"applicant"})
"""Objects whose ``name`` is a person's name (an applicant), masked as a name."""


def mask_value(value: Any, key: str | None = None, parent: str | None = None) -> Any:
    """``value`` with every personal field masked (a new object; the input is unchanged)."""
    if isinstance(value, dict):
        return {k: mask_value(v, k, key) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_value(v, None, key) for v in value]
    if key in MASKS and isinstance(value, str):
        return MASKS[key](value)
    if key == "name" and parent in PERSON_OBJECTS and isinstance(value, str):
        return mask_name(value)
    return value


def masked_envelope(envelope: dict) -> dict:
    """The envelope with its body's personal fields masked."""
    return mask_value(envelope)
