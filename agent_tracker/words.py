"""Counts in words, for every line a person reads: `1 commit`, `2 commits`."""

from __future__ import annotations


def plural(count: int, word: str, suffix: str = "s") -> str:
    """`count` and `word`, with `suffix` unless the count is one."""
    return f"{count} {word}{'' if count == 1 else suffix}"
