"""Hydra overrides that the code writes itself, from values that may hold any character.

Hydra reads an unquoted value with its own grammar: an accent or a bracket in a path is a
syntax error, and a comma turns the value into a sweep over two. So a path (a study's
folders, the command a message tells the user to type) is quoted for Hydra, and the whole
word for a POSIX shell, wherever it is not plain.
"""
from __future__ import annotations

import re
import shlex

_PLAIN = re.compile(r"[A-Za-z0-9_./+-]+")  # read by Hydra and by a shell as themselves
# plain words that Hydra reads as a number, a boolean or null rather than as a string
_TYPED = re.compile(r"[+-]?(\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(e[+-]?\d+)?|[+-]?(inf|nan)"
                    r"|true|false|null", re.IGNORECASE)
_PLAIN_WORD = re.compile(r"[A-Za-z0-9_./+=-]+")
_BACKSLASHES_BEFORE_QUOTE = re.compile(r"(\\*)'")
_TRAILING_BACKSLASHES = re.compile(r"(\\+)$")


def override(key: str, value) -> str:
    """`key=value` that Hydra reads back as exactly `value`: a number as that number, anything
    else (a string, a path) as its string."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{key}={value!r}"
    text = str(value)
    if _PLAIN.fullmatch(text) and not _TYPED.fullmatch(text):
        return f"{key}={text}"
    # in a quoted value, backslashes are literal except before a quote (or the closing one),
    # where each is doubled; `${` would start an interpolation
    quoted = _BACKSLASHES_BEFORE_QUOTE.sub(lambda m: m.group(1) * 2 + "\\'", text)
    quoted = _TRAILING_BACKSLASHES.sub(lambda m: m.group(1) * 2, quoted)
    return f"{key}='{quoted.replace('${', chr(92) + '${')}'"


def shell_word(word: str) -> str:
    """`word` as typed into a POSIX shell: as it is where plain, else in double quotes where
    nothing in it is special there (`"key='/my runs/x'"`, as Hydra's documentation writes
    it), else in single quotes."""
    if _PLAIN_WORD.fullmatch(word):
        return word
    if not set(word) & set('"$`\\!'):
        return f'"{word}"'
    return shlex.quote(word)


def typed(key: str, value) -> str:
    """The override `key=value` as a user types it into a shell."""
    return shell_word(override(key, value))


def shell_line(words) -> str:
    """A command's words as typed into a POSIX shell."""
    return " ".join(shell_word(str(word)) for word in words)
