"""The service catalogue on the node: the sample until a hub's catalogue arrives.

The catalogue in force lives in the store; applying one writes ``catalogue.applied``.
Cases are stamped with the catalogue version in force when they were received.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources

from protocol.canonical import canonical_bytes
from protocol.catalogue import Catalogue, validate_catalogue

from ..errors import NotFound, SetupError


def sample_catalogue() -> Catalogue:
    """The sample catalogue shipped in protocol/samples/catalogue.json."""
    text = resources.files("protocol.samples").joinpath("catalogue.json").read_text("utf-8")
    return validate_catalogue(json.loads(text))


def fingerprint(catalogue: Catalogue) -> str:
    return hashlib.sha256(canonical_bytes(catalogue.to_document())).hexdigest()


def apply_catalogue(node, catalogue: Catalogue, *, source: str) -> None:
    """Make ``catalogue`` the one in force (one transaction with its event)."""
    with node.store.transaction():
        node.store.save_catalogue(catalogue, source)
        node.store.append_event("catalogue.applied", None, {
            "version": catalogue.version, "fingerprint": fingerprint(catalogue),
            "items": len(catalogue.items), "source": source})


def current_catalogue(node) -> Catalogue:
    catalogue = node.store.catalogue()
    if catalogue is None:
        raise SetupError("no catalogue", zh="节点尚未载入事项目录")
    return catalogue


def item(node, code: str) -> dict:
    """The catalogue item ``code``; NotFound if the catalogue in force lacks it."""
    found = current_catalogue(node).by_code(code or "")
    if found is None:
        raise NotFound(f"no item {code}", zh=f"事项目录中没有编码为“{code}”的事项")
    return found
