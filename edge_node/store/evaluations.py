"""SQL of the centre's own 好差评 (edge_node/cases/evaluations.py): one row per case and stage."""

from __future__ import annotations


def given(store, case_no: str) -> dict[str, dict]:
    """The stages of ``case_no`` rated here: ``{stage: {level, text, at, seq}}``."""
    return {stage: {"level": level, "text": text, "at": at, "seq": seq}
            for stage, level, text, at, seq in store.conn.execute(
                "SELECT stage, level, text, at, seq FROM evaluations_given WHERE case_no = ? "
                "ORDER BY seq", (case_no,))}


def add(store, case_no: str, stage: str, level: int, text: str | None, at: str,
        seq: int) -> None:
    store.conn.execute("INSERT INTO evaluations_given (case_no, stage, level, text, at, seq) "
                       "VALUES (?, ?, ?, ?, ?, ?)", (case_no, stage, level, text, at, seq))


def replace_all(store, rows: list[tuple]) -> None:
    """Restore: the rows rebuilt from the log (case_no, stage, level, text, at, seq)."""
    store.conn.execute("DELETE FROM evaluations_given")
    store.conn.executemany("INSERT OR IGNORE INTO evaluations_given (case_no, stage, level, "
                           "text, at, seq) VALUES (?, ?, ?, ?, ?, ?)", rows)
