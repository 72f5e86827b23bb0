"""Arbitrary event fields survive capture -> flush -> export: nothing lost, nothing invented."""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from agent_tracker import config, exchange
from agent_tracker.entry import main
from agent_tracker.flush import flush
from agent_tracker.journal import Journal
from faults.conftest import Ledger

# Any code point, lone surrogates included: what undecodable bytes in argv or the
# environment become in Python.
NAMES = st.text(st.characters(exclude_categories=()), min_size=1, max_size=600)
# A blank tool name is refused and "-" reads a hook payload (both by design); any other
# text is a name.
TOOL_NAMES = NAMES.filter(lambda name: name.strip() and name != "-")  # "-": read stdin
CAPTURE = st.tuples(st.sampled_from(["tool", "command"]), TOOL_NAMES, NAMES, NAMES, NAMES)


@pytest.fixture
def tally(ledger: Ledger) -> Iterator[Counter[str]]:
    """Events and examples the property checked, for the ledger once Hypothesis is done."""
    counts: Counter[str] = Counter()
    yield counts
    ledger.record(
        "arbitrary text in every capture field (Hypothesis)",
        "capture -> flush -> export keeps every event and every name",
        injected=counts["examples"],
        checked=counts["events"],
        lost=counts["lost"],
        duplicated=counts["duplicated"],
    )


def capture_flush_export(
    calls: list[tuple[str, str, str, str, str]], home: str, tally: Counter[str]
) -> None:
    os.environ["HOME"] = home
    settings_ = config.load()
    for kind, name, agent, model, harness in calls:
        argv = ["track", kind, "--agent=" + agent, "--model=" + model, "--harness=" + harness]
        code = main([*argv, "--", name])
        assert code == 0, (argv, name)
    journal = Journal(settings_.journal_dir)
    raw_lines = journal.live.read_bytes().split(b"\n")
    lines = [json.loads(line) for line in raw_lines if line]  # each record starts with \n
    assert len(lines) == len(calls)
    journaled = Counter((e["harness"], e["agent"], e["model"], e["type"]) for e in lines)
    result = flush(settings_)
    assert (result.applied, result.quarantined) == (len(calls), 0)
    exported: Counter[tuple[str, str, str, str]] = Counter()
    for raw in exchange.export_lines(settings_):
        fact = json.loads(raw)
        if fact["kind"] == "usage":
            setup = (fact["harness"], fact["agent"], fact["model"])
            exported[(*setup, "tool")] += fact["tool_calls"]
            exported[(*setup, "command")] += fact["commands"]
    tally["examples"] += 1
    tally["events"] += len(calls)
    tally["lost"] += sum((journaled - exported).values())
    tally["duplicated"] += sum((exported - journaled).values())
    assert +exported == journaled
    for (kind, _, agent, _, _), event in zip(calls, lines, strict=True):
        assert event["type"] == kind
        if agent == agent.strip() and agent.isprintable() and len(agent.encode()) <= 200:
            assert event["agent"] == agent


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(calls=st.lists(CAPTURE, min_size=1, max_size=6))
@example(calls=[("tool", "caf\udce9", "\ud800agent", "m\x1b[31m", "h\x00")])
def test_arbitrary_names_round_trip_through_capture_flush_and_export(
    calls: list[tuple[str, str, str, str, str]], tmp_path: Path, tally: Counter[str]
) -> None:
    old = os.environ["HOME"]
    with tempfile.TemporaryDirectory(dir=tmp_path) as home:
        try:
            capture_flush_export(calls, home, tally)
        finally:
            os.environ["HOME"] = old
