"""Password rules for staff accounts, shared by the node and the hub.

One function, :func:`password_problem`, says what is wrong with a password a person chose
(or that the software generated), as a Chinese message naming the rule, or None when it
passes. The rules:

* at least :data:`MIN_LENGTH` (12) and at most :data:`MAX_LENGTH` (200) characters;
* the user name may not appear inside the password (case ignored);
* not guessable: ``zxcvbn`` (offline, dictionaries of common passwords, names, keyboard
  patterns, dates, repeats) must give it a score of at least :data:`MIN_SCORE` (3 of 4),
  with the user name and display name as extra words it knows.

:func:`generate_password` makes a random password that passes the rules (init commands
and resets print it once).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from zxcvbn import zxcvbn

MIN_LENGTH = 12
MAX_LENGTH = 200
MIN_SCORE = 3
# zxcvbn refuses longer input; a password that long is judged on its first 72 characters.
_ZXCVBN_MAX = 72
GENERATED_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ"
GENERATED_LENGTH = 16


def password_problem(password: object, *, username: str = "", display_name: str = "",
                     label: str = "密码") -> str | None:
    """What breaks the password rules, as a Chinese message naming the rule; None if none."""
    if not isinstance(password, str) or len(password) < MIN_LENGTH:
        return f"{label}：至少 {MIN_LENGTH} 个字符"
    if len(password) > MAX_LENGTH:
        return f"{label}：最多 {MAX_LENGTH} 个字符"
    name = (username or "").strip().casefold()
    if name and name in password.casefold():
        return f"{label}：不能包含用户名“{username.strip()}”"
    inputs = [w for w in _user_inputs(username, display_name) if w]
    result = zxcvbn(password[:_ZXCVBN_MAX], user_inputs=inputs)
    if result["score"] < MIN_SCORE:
        return (f"{label}：太容易被猜中（常见密码、单词、姓名、日期、键盘顺序或重复字符），"
                "请换一个更长、更不规则的密码，例如几个不相关的词加数字和符号")
    return None


def _user_inputs(username: str, display_name: str) -> Iterable[str]:
    yield (username or "").strip()
    yield (display_name or "").strip()
    yield from (display_name or "").split()


def generate_password(length: int = GENERATED_LENGTH, *, username: str = "",
                      display_name: str = "") -> str:
    """A random password from an unambiguous alphabet that passes :func:`password_problem`."""
    if length < MIN_LENGTH:
        raise ValueError(f"a generated password has at least {MIN_LENGTH} characters")
    while True:
        password = "".join(secrets.choice(GENERATED_ALPHABET) for _ in range(length))
        if password_problem(password, username=username, display_name=display_name) is None:
            return password
