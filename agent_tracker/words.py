"""Counts in words, for every line a person reads: `1 commit`, `2 commits`, `1.5 MiB`."""

from __future__ import annotations


def plural(count: int, word: str, suffix: str = "s") -> str:
    """`count` and `word`, with `suffix` unless the count is one."""
    return f"{count} {word}{'' if count == 1 else suffix}"


def size(n: int) -> str:
    """Bytes in binary units, one decimal: `512 B`, `1.5 MiB`."""
    if n < 1024:
        return f"{n} B"
    value = n / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"
