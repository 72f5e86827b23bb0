"""The flush's per-event fast path reads every line exactly as the full decoding does.

`Applier.count_line` (raw lines of the form `events.encode` writes) and `Applier.count`
(parsed lines) skip building and fully checking each tool call or command. Whatever the
journal holds, including lines one edit away from well-formed, a flush through them must
count, apply, quarantine and set aside exactly what the full path does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent_tracker import events
from agent_tracker.applier import Applier
from agent_tracker.batch import WriteBatch
from agent_tracker.journal import BadLine, Journal

#: Mostly the few names of a real journal (so that lines share setups, projects and days),
#: sometimes any text at all.
TEXT = st.one_of(
    st.sampled_from(["opencode", "build", "github.com/me/app", "edit"]),
    st.sampled_from(["", " ", "é", "a\\b", 'q"', "\x00", "\ud800"]),
    st.text(max_size=4),
)
VALUE = st.one_of(
    TEXT,
    st.none(),
    st.booleans(),
    st.integers(-2, 3),
    st.floats(allow_nan=False, allow_infinity=False),
    st.lists(st.integers(0, 2), max_size=2),
    st.dictionaries(st.sampled_from(["in", "out", "x"]), st.integers(-1, 2), max_size=2),
)
TS = st.one_of(
    st.sampled_from([1_780_000_000.5, 1_780_000_001, 1_780_086_400.25, 0, 0.0, 0.5]),
    st.sampled_from([9_999_999_999.999, 10**10, 10**10 + 0.5, -1, -0.0, 1e20, 1e-7]),
    st.floats(0, 9_999_999_999.999, allow_nan=False),
    st.integers(0, 10**10 + 5),
)


EXTRAS = {
    "session": st.sampled_from(["s1", "s2"]),
    "instructions": st.sampled_from(["0a0a0a0a", "x"]),
    "ok": st.booleans(),
    "tokens": st.fixed_dictionaries({}, optional={"in": st.integers(0, 9), "out": st.just(2)}),
    "cost": st.sampled_from([0, 0.25, 1]),
}


def sometimes(draw: st.DrawFn) -> bool:
    return draw(st.integers(0, 4)) == 0


@st.composite
def lines(draw: st.DrawFn) -> bytes:
    """One journal line: an event as capture writes it, often bent somewhere."""
    kinds = ["tool", "command", "tool", "command", "session", "commit", "grade", "other"]
    kind = draw(st.sampled_from(kinds))
    setup = draw(st.sampled_from([("opencode", "build", "gpt-5"), ("codex", "main", "o3")]))
    if sometimes(draw):
        setup = (draw(TEXT), draw(TEXT), draw(TEXT))
    project = draw(TEXT) if sometimes(draw) else "github.com/me/app"
    event: dict[str, Any] = events.make(kind, setup, project, name=draw(TEXT))
    event["ts"] = draw(TS)
    if sometimes(draw):  # what format 2 may add, well-formed
        event.update(draw(st.fixed_dictionaries({}, optional=EXTRAS)))
    if sometimes(draw):
        event["v"] = draw(st.sampled_from([3, 3, 1, 0, True, 2.0, "2", None]))
    if sometimes(draw):
        event["id"] = draw(st.one_of(st.sampled_from(["", "ab\u00e9", "x y", "0"]), VALUE))
    if sometimes(draw):
        fields = ["session", "instructions", "ok", "tokens", "cost", "root", "type", "ts", "v"]
        for field in draw(st.lists(st.sampled_from(fields), max_size=3)):
            event[field] = draw(VALUE)
    if kind in ("commit", "grade"):
        event.update(hash="abcd1234", by="user", grade=2)
    if sometimes(draw):
        del event[draw(st.sampled_from(sorted(event)))]
    line = events.dumps(event).encode("utf-8", "surrogatepass")  # invalid UTF-8 too
    if sometimes(draw) and line:
        at = draw(st.integers(0, len(line) - 1))
        piece = draw(st.sampled_from([b" ", b"\\u0041", b"0", b"e5", b'"', b",", b"\x00", b"."]))
        edit = draw(st.sampled_from(["replace", "insert", "cut"]))
        if edit == "replace":
            line = line[:at] + piece + line[at + 1 :]
        elif edit == "insert":
            line = line[:at] + piece + line[at:]
        else:
            line = line[:at]
    return line


def flushed(path: Path, fast: bool) -> tuple[Any, ...]:
    batch = WriteBatch(None)
    bad: list[BadLine] = []
    newer: list[BadLine] = []
    applier = Applier(batch, "dbid")
    if fast:
        applier.apply(Journal.scan(path, bad, newer, applier.count, applier.count_line))
    else:
        applier.apply(Journal.scan(path, bad, newer))
    return (
        batch.changes(),
        applier.applied,
        applier.duplicates,
        applier.by_type,
        applier.latest,
        [(b.lineno, b.text, b.error) for b in bad],
        [(b.lineno, b.text, b.error) for b in newer],
    )


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(lines(), min_size=1, max_size=12))
def test_the_fast_path_counts_and_quarantines_exactly_what_full_decoding_does(
    tmp_path: Path, journal_lines: list[bytes]
) -> None:
    path = tmp_path / "segment-1.jsonl"
    path.write_bytes(b"".join(b"\n" + line for line in journal_lines))
    assert flushed(path, fast=True) == flushed(path, fast=False)


def test_the_fast_path_takes_the_lines_capture_writes() -> None:
    applier = Applier(WriteBatch(None), "dbid")
    event = events.make("tool", ("opencode", "build", "gpt-5"), "github.com/me/app", name="edit")
    line = events.encode(event)
    assert applier.count_line(line)
    assert not applier.count_line(line.replace(b'"ts":', b'"ts": '))  # decoded in full instead
    with_session = events.encode(dict(event, session="s1"))
    assert applier.count_line(with_session)
    assert applier.apply([]) is None
    assert applier.applied == 2


def write(tmp_path: Path, *journal_lines: bytes) -> Path:
    path = tmp_path / "segment-1.jsonl"
    path.write_bytes(b"".join(b"\n" + line.rstrip(b"\n") for line in journal_lines))
    return path


def test_a_newer_format_line_is_set_aside_even_after_a_line_of_the_same_setup(
    tmp_path: Path,
) -> None:
    event = events.make("tool", ("opencode", "build", "gpt-5"), "github.com/me/app", name="x")
    path = write(tmp_path, events.encode(event), events.encode(dict(event, v=3)))
    _, applied, _, _, _, bad, newer = flushed(path, fast=True)
    assert (applied, bad, [lineno for lineno, _, _ in newer]) == (1, [], [3])
    assert flushed(path, fast=True) == flushed(path, fast=False)


def test_failures_tokens_and_cost_on_a_line_are_counted_by_the_fast_path_too(
    tmp_path: Path,
) -> None:
    event = events.make("tool", ("opencode", "build", "gpt-5"), "github.com/me/app", name="x")
    spent = {"ok": False, "session": "s1", "tokens": {"in": 5}, "cost": 0.5}
    path = write(tmp_path, events.encode(dict(event, session="s1")), events.encode(event | spent))
    changes = flushed(path, fast=True)[0]
    [usage] = [value for key, value in changes.items() if key.startswith("usage:")]
    assert (usage["tool_calls"], usage["failures"], usage["tokens_in"]) == (2, 1, 5)
    assert flushed(path, fast=True) == flushed(path, fast=False)


def test_a_line_whose_type_is_not_text_is_quarantined_not_a_crash(tmp_path: Path) -> None:
    event = events.make("tool", ("opencode", "build", "gpt-5"), "github.com/me/app", name="x")
    path = write(tmp_path, events.encode(event), events.encode(dict(event, type=[])))
    for fast in (True, False):
        _, applied, _, _, _, bad, _ = flushed(path, fast=fast)
        assert (applied, bad[0][0], bad[0][2]) == (1, 3, "unknown event type []")
