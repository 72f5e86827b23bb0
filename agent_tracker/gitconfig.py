"""Reading a git config file as git reads it, without starting git.

`find_project` runs in every agent tool call and reads the repository's own config file
(`remote.origin.url`, the `agent-tracker.*` pins) directly. This module reads it by git's
rules (git-config(1), "Syntax"), so a value means here what it means to git:

- Section names are case-insensitive; `[section "sub"]` subsections are case-sensitive, with
  `\\"` and `\\\\` escapes (a backslash before any other character is dropped); the deprecated
  `[section.sub]` form is lowercased whole. A variable may follow `]` on the same line.
- Variable names are case-insensitive; a name without `=` is the boolean true (None here).
- In a value, blanks around it and everything after an unquoted `#` or `;` are dropped (an
  unquoted blank inside it is read as a space);
  double quotes are removed and keep what they enclose verbatim; `\\"`, `\\\\`, `\\n`,
  `\\t`, `\\b` are unescaped, and a backslash at the end of a line continues the value on
  the next one. A line git would reject (an unknown escape, an unclosed quote) gives no value
  here rather than an error: the caller falls back to what it does without the value.

Only the standard library, and plain string operations: this is on the capture hot path.
"""

from __future__ import annotations

TYPE_CHECKING = False  # avoids importing typing on the capture hot path
if TYPE_CHECKING:
    from collections.abc import Container

_SPACE = " \t\v\f\r"
#: Characters that make a value more than its text between blanks.
_SPECIAL = frozenset('"\\#;\t\v\f\r')
_ESCAPES = {"n": "\n", "t": "\t", "b": "\b", "\\": "\\", '"': '"'}


class _Invalid(ValueError):
    """A line git itself would refuse."""


def read(path: str, keys: Container[str] | None = None) -> dict[str, list[str | None]]:
    """Every variable of the config file at `path` (empty when it cannot be read), keyed
    `section.name` or `section.subsection.name` with section and name lowercased, each with
    its values in file order (git's `--get` answers the last one). With `keys`, only those
    (the others are skipped without unquoting their values)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return {}
    return parse(data.decode("utf-8", "surrogateescape"), keys)


def parse(text: str, keys: Container[str] | None = None) -> dict[str, list[str | None]]:
    """The variables of config-file `text` (see `read`)."""
    found: dict[str, list[str | None]] = {}
    lines = text.removeprefix("\ufeff").replace("\r\n", "\n").split("\n")
    section: str | None = None
    index = 0
    while index < len(lines):
        line = lines[index].lstrip(_SPACE)
        index += 1
        if line.startswith("["):
            try:
                section, line = _header(line)
            except _Invalid:
                break  # git refuses the whole file from here; keep what came before
            line = line.lstrip(_SPACE)
        if not line or line[0] in "#;":
            continue
        head, equals, raw = line.partition("=")
        name = head.rstrip(" \t").lower()
        # A name is ASCII letters, digits and `-`, starting with a letter; then `=` or the end.
        if (
            section is None
            or not name[:1].isalpha()
            or not name.isascii()
            or not name.replace("-", "").isalnum()
        ):
            continue
        key = f"{section}.{name}"
        if keys is not None and key not in keys:
            if equals and raw.endswith("\\"):  # may go on: skip its continuation lines
                index = _skip(raw, lines, index)
            continue
        value: str | None = None
        if equals:
            try:
                value, index = _value(raw, lines, index)
            except _Invalid:
                continue
        found.setdefault(key, []).append(value)
    return found


def _skip(raw: str, lines: list[str], index: int) -> int:
    try:
        return _value(raw, lines, index)[1]
    except _Invalid:
        return index


def _header(line: str) -> tuple[str, str]:
    """(`section` or `section.subsection`, what follows `]`) of a line starting with `[`."""
    at = 1
    while at < len(line) and (line[at].isalnum() or line[at] in "-."):
        at += 1
    name = line[1:at]
    if not name or not name.isascii():
        raise _Invalid(line)
    if at < len(line) and line[at] == "]":
        return name.lower(), line[at + 1 :]
    if "." in name:
        raise _Invalid(line)  # `[a.b "c"]` is not a header git accepts
    while at < len(line) and line[at] in _SPACE:
        at += 1
    if at >= len(line) or line[at] != '"':
        raise _Invalid(line)
    at += 1
    sub: list[str] = []
    while True:
        if at >= len(line):
            raise _Invalid(line)
        char = line[at]
        if char == '"':
            break
        if char == "\\":
            at += 1
            if at >= len(line):
                raise _Invalid(line)
            char = line[at]
        sub.append(char)
        at += 1
    if at + 1 >= len(line) or line[at + 1] != "]":
        raise _Invalid(line)
    return f"{name.lower()}.{''.join(sub)}", line[at + 2 :]


def _value(raw: str, lines: list[str], index: int) -> tuple[str, int]:
    """A value as git reads it from `raw` (what follows `=`), and the index of the line
    after it: a backslash at the end of a line (outside a comment) continues the value on
    `lines[index]`, the backslash and the line end vanishing."""
    if _SPECIAL.isdisjoint(raw):
        return raw.strip(" "), index  # the common case: nothing to unquote
    out: list[str] = []
    quoted = False
    trim = -1  # where trailing unquoted whitespace began, if it did
    at = 0
    while at < len(raw):
        char = raw[at]
        at += 1
        if char in _SPACE and not quoted:
            if out:
                if trim < 0:
                    trim = len(out)
                out.append(" ")  # as git 2.39 reads it: each blank a space
            continue
        if not quoted and char in "#;":
            break
        trim = -1
        if char == "\\":
            if at >= len(raw):  # the value goes on on the next line
                if index >= len(lines):
                    break
                raw, at, index = lines[index], 0, index + 1
                continue
            escaped = _ESCAPES.get(raw[at])
            if escaped is None:
                raise _Invalid(raw)
            out.append(escaped)
            at += 1
        elif char == '"':
            quoted = not quoted
        else:
            out.append(char)
    if quoted:
        raise _Invalid(raw)
    if trim >= 0:
        del out[trim:]
    return "".join(out), index


def last(config: dict[str, list[str | None]], key: str) -> str | None:
    """The value git's `config --get` gives for `key` (the last one); None when unset or a
    bare name (`[section] key`)."""
    values = config.get(key)
    return values[-1] if values else None


def boolean(value: str | None, default: bool) -> bool:
    """A value read as git reads a boolean (`true`/`yes`/`on`/non-zero, `false`/`no`/`off`/
    `0`/empty); a bare name is true; anything else gives `default`."""
    if value is None:
        return True
    text = value.strip().lower()
    if text in ("true", "yes", "on"):
        return True
    if text in ("false", "no", "off", ""):
        return False
    try:
        return int(text, 10) != 0
    except ValueError:
        return default
