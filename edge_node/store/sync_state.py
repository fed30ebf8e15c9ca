"""SQL of the node's sync with the hub (used by :class:`edge_node.store.Store`).

The sync state is a handful of ``meta`` rows named ``sync.*`` (the pinned hub keys, the
hub URL, the clock offset, the last acknowledgement, the last error, key rotation in
progress); the history of rounds is the ``sync_rounds`` table (migration
``0005_sync_rounds``). ``acked_seq`` stays where the store keeps it (meta ``acked_seq``,
``events.acked``), advanced only by ``Store.mark_acked``.
"""

from __future__ import annotations

import json
from typing import Any

from protocol.envelope import decode_event_fast

PREFIX = "sync."
KEEP_ROUNDS = 500

#: Keys of the sync state and how they are typed when read back.
FIELDS: dict[str, type] = {
    "hub_url": str, "hub_name": str, "hub_signing_key": str, "hub_encryption_key": str,
    "enrolled_at": str, "status": str, "status_message": str,
    "last_ack_at": str, "last_attempt_at": str, "last_success_at": str,
    "last_error_code": str, "last_error_zh": str, "last_error_network": bool,
    "clock_offset_ms": int, "rotation": dict, "initial_key": str,
    "config_versions": dict,
    "hub_tls": dict,        # {"pins": [hex], "source", "version", "digest"} (edge_node/sync/tls.py)
    # sync in the field (edge_node/sync/: usb.py, restore.py, attachments.py)
    "resend_from": int, "epoch": dict, "push_version": str, "last_export": dict,
}


def _decode(name: str, text: str) -> Any:
    kind = FIELDS.get(name, str)
    if kind is bool:
        return text == "1"
    if kind is int:
        return int(text)
    if kind is dict:
        return json.loads(text)
    return text


def _encode(name: str, value: Any) -> str:
    kind = FIELDS.get(name, str)
    if kind is bool:
        return "1" if value else "0"
    if kind is dict:
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def read_state(store) -> dict[str, Any]:
    """Every ``sync.*`` field (missing ones as None / False) plus derived figures."""
    rows = store.conn.execute("SELECT key, value FROM meta WHERE key LIKE 'sync.%'").fetchall()
    state: dict[str, Any] = {name: (False if kind is bool else None)
                             for name, kind in FIELDS.items()}
    for key, value in rows:
        name = key[len(PREFIX):]
        state[name] = _decode(name, value)
    acked = store.acked_seq()
    row = store.conn.execute("SELECT ts FROM events WHERE seq = ?", (acked + 1,)).fetchone()
    state["oldest_waiting_ts"] = None if row is None else row[0]
    state["enrolled"] = bool(state["hub_signing_key"])
    state["catalogue_version"] = store.meta("catalogue_version")
    state["calendar_version"] = store.meta("calendar_version")
    return state


def write_state(store, values: dict[str, Any]) -> None:
    """Set (or, with None, delete) ``sync.*`` fields in one transaction."""
    with store.transaction():
        for name, value in values.items():
            if name not in FIELDS:
                raise KeyError(f"unknown sync state field {name!r}")
            key = PREFIX + name
            if value is None:
                store.conn.execute("DELETE FROM meta WHERE key = ?", (key,))
            else:
                store.conn.execute(
                    "INSERT INTO meta (key, value) VALUES (?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (key, _encode(name, value)))


def record_round(store, round_: dict[str, Any]) -> None:
    """Append one round to ``sync_rounds`` and keep the newest ``KEEP_ROUNDS``."""
    with store.transaction():
        store.conn.execute(
            "INSERT INTO sync_rounds (started_at, finished_at, outcome, pushed, acked_seq, "
            "bytes_sent, bytes_received, error_code, message_zh) VALUES (?,?,?,?,?,?,?,?,?)",
            (round_["started_at"], round_["finished_at"], round_["outcome"],
             round_.get("pushed", 0), round_.get("acked_seq", 0), round_.get("bytes_sent", 0),
             round_.get("bytes_received", 0), round_.get("error_code"),
             round_.get("message_zh")))
        store.conn.execute(
            "DELETE FROM sync_rounds WHERE id <= (SELECT max(id) FROM sync_rounds) - ?",
            (KEEP_ROUNDS,))


def recent_rounds(store, limit: int = 20) -> list[dict[str, Any]]:
    cursor = store.conn.execute(
        "SELECT started_at, finished_at, outcome, pushed, acked_seq, bytes_sent, "
        "bytes_received, error_code, message_zh FROM sync_rounds ORDER BY id DESC LIMIT ?",
        (limit,))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def events_from(store, first: int, limit: int):
    """Up to ``limit`` events from seq ``first`` on, in seq order (resending after a gap)."""
    rows = store.conn.execute(
        "SELECT canonical, signature FROM events WHERE seq >= ? ORDER BY seq LIMIT ?",
        (first, limit)).fetchall()
    return [decode_event_fast(bytes(c), bytes(s)) for c, s in rows]
