"""Generate the database of a year of heavy use, through agent-tracker's real write path.

At --scale 1 (the default): 20 agent setups, 50 projects, 365 days, 100,000 commits,
200,000 grade events, 2,000,000 tool calls and 200,000 commands. Events are made with
`agent_tracker.events.make`, stamped with a time in the last 365 UTC days (yesterday last),
encoded with `events.encode`, appended to the live journal file in time order and applied by
`agent_tracker.flush.flush` every `--chunk` events, exactly as `agent-tracker flush` would.

Shape (so that the report has something realistic to rank):
- Setups: opencode, claude-code, codex and aider with build/plan/reviewer/... agents over a
  dozen models, each with a true quality (its chance of good work, which sets the odds of
  each grade), a popularity and a period of use (older models retire, newer ones arrive).
- Projects: 50, in a dozen languages; a commit's `exts` holds mostly the project's main
  extension plus the odd `.md` or config file. Some projects last the whole year, others a
  few weeks or months.
- Days: people work on a few projects a day with a few setups (weekends are quieter, two
  holidays are empty), in sessions of one setup on one project; tool calls, commands and
  commits are spread over sessions by their size.
- Commits: unique 40-hex hashes, a subject, author_time, files, insertions, deletions, exts
  and how the setup was decided (`source`: flag 38%, trailer 22%, journal 17%, env 15%,
  unknown 8%; an `unknown` commit belongs to the unknown setup).
- Grades: a commit is graded by its agent (95%; 15% for unknown commits) and/or by the user
  (80%; 55%), so 0-2 grade facts per commit (~1.67 on average). The rest of the 200,000 grade
  events are re-grades (a party changing its grade later; the newest wins), so the
  replacement path is exercised too. Every grade comes after its commit in the journal.

The structure (setups, projects, days and sessions) depends only on --seed, not on
--scale, so --scale 0.1 gives the same setups, projects and days with 10x fewer events:
what bench_report.py needs to show that report cost does not follow the number of events.

Writes go to a temporary home (HOME and every AGENT_TRACKER_* setting inside it) except the
database itself, which is built in `<out>.partial` and renamed to --out when complete. A
manifest (`gen_history.json`) inside the database folder records what was built.

Exit status: 0 when built and checked, 2 when it could not be built or the check failed.
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import shutil
import sys
import tempfile
import time
from bisect import bisect_right
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from random import Random
from typing import Any

from _benchlib import enter, isolated_env, machine

HERE = Path(__file__).resolve().parent
MANIFEST = "gen_history.json"
MANIFEST_VERSION = 1
DAY = 86400
DAYS = 365
GIB = 1024**3
#: Event counts at --scale 1.
FULL = {"commit": 100_000, "grade": 200_000, "tool": 2_000_000, "command": 200_000}
UNKNOWN = ("unknown", "unknown", "unknown")

# harness, agent, model, quality (0..1), popularity, in use from/to (fractions of the
# year), commits per unit of work (planners and reviewers rarely commit)
SETUPS: list[tuple[str, str, str, float, float, float, float, float]] = [
    ("opencode", "build", "anthropic/claude-sonnet-4-5", 0.78, 10, 0.70, 1.0, 1.0),
    ("opencode", "plan", "anthropic/claude-sonnet-4-5", 0.74, 3, 0.70, 1.0, 0.15),
    ("opencode", "build", "anthropic/claude-sonnet-4", 0.68, 8, 0.0, 0.75, 1.0),
    ("opencode", "build", "openai/gpt-5", 0.72, 6, 0.55, 1.0, 1.0),
    ("opencode", "plan", "openai/gpt-5", 0.70, 2, 0.55, 1.0, 0.15),
    ("opencode", "reviewer", "google/gemini-2.5-pro", 0.62, 2, 0.25, 1.0, 0.2),
    ("opencode", "build", "google/gemini-2.5-pro", 0.58, 3, 0.25, 1.0, 1.0),
    ("opencode", "build", "moonshotai/kimi-k2", 0.55, 2, 0.50, 1.0, 1.0),
    ("opencode", "build", "x-ai/grok-code-fast-1", 0.45, 2, 0.65, 1.0, 1.0),
    ("opencode", "build", "qwen/qwen3-coder", 0.50, 1.5, 0.55, 1.0, 1.0),
    ("claude-code", "claude", "claude-opus-4-1", 0.82, 5, 0.60, 1.0, 1.0),
    ("claude-code", "claude", "claude-sonnet-4-5", 0.77, 9, 0.70, 1.0, 1.0),
    ("claude-code", "claude", "claude-sonnet-4", 0.67, 8, 0.0, 0.75, 1.0),
    ("claude-code", "reviewer", "claude-sonnet-4-5", 0.73, 2, 0.72, 1.0, 0.2),
    ("codex", "default", "gpt-5-codex", 0.75, 6, 0.70, 1.0, 1.0),
    ("codex", "default", "gpt-5", 0.71, 3, 0.55, 0.85, 1.0),
    ("codex", "default", "o4-mini", 0.52, 3, 0.0, 0.6, 1.0),
    ("aider", "default", "deepseek/deepseek-chat", 0.48, 2, 0.0, 0.8, 1.0),
    ("aider", "architect", "anthropic/claude-sonnet-4", 0.63, 2, 0.0, 0.7, 0.8),
    ("aider", "default", "openai/gpt-4.1", 0.50, 2, 0.0, 0.5, 1.0),
]

#: Tool names as each harness reports them, with their relative frequency.
TOOLS = {
    "opencode": {
        "read": 30,
        "edit": 20,
        "bash": 18,
        "grep": 12,
        "glob": 6,
        "todowrite": 5,
        "write": 4,
        "webfetch": 2,
        "list": 2,
        "patch": 1,
    },
    "claude-code": {
        "Read": 30,
        "Edit": 18,
        "Bash": 18,
        "Grep": 12,
        "Glob": 6,
        "TodoWrite": 5,
        "Write": 4,
        "MultiEdit": 3,
        "Task": 2,
        "WebFetch": 2,
    },
    "codex": {"shell": 55, "apply_patch": 30, "update_plan": 10, "read_file": 5},
    "aider": {"edit": 50, "run": 25, "add": 15, "ask": 10},
}

# language: main extension, other extensions a commit may touch, commands people run
LANGUAGES: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "Python": (".py", (".md", ".toml", ".yaml", ".txt"), ("pytest -q", "ruff check .", "uv sync")),
    "TypeScript": (".ts", (".tsx", ".json", ".md", ".css"), ("npm test", "npx tsc --noEmit")),
    "JavaScript": (".js", (".json", ".md", ".css", ".html"), ("npm test", "npm run lint")),
    "Go": (".go", (".mod", ".md", ".yaml"), ("go test ./...", "go vet ./...", "go build ./...")),
    "Rust": (".rs", (".toml", ".md"), ("cargo test", "cargo clippy", "cargo build")),
    "Java": (".java", (".xml", ".md", ".properties"), ("./gradlew test", "mvn -q verify")),
    "Kotlin": (".kt", (".kts", ".md"), ("./gradlew test", "./gradlew build")),
    "Ruby": (".rb", (".erb", ".yml", ".md"), ("bundle exec rspec", "bundle exec rubocop")),
    "C++": (".cpp", (".hpp", ".txt", ".md"), ("cmake --build build", "ctest --test-dir build")),
    "Swift": (".swift", (".plist", ".md"), ("swift test", "swift build")),
    "Elixir": (".ex", (".exs", ".md"), ("mix test", "mix format --check-formatted")),
    "Shell": (".sh", (".md",), ("shellcheck *.sh", "bats test")),
}
COMMON_COMMANDS = ("git status", "git diff", "ls", "rg TODO", "make")

# 50 projects: (host/owner/name, language); the first ones are the busiest
PROJECTS: list[tuple[str, str]] = [
    (f"github.com/{owner}/{name}", language)
    for owner, name, language in (
        ("acme", "billing-api", "Python"),
        ("acme", "web-app", "TypeScript"),
        ("acme", "ingest-worker", "Go"),
        ("me", "agent-tracker", "Python"),
        ("acme", "search-service", "Rust"),
        ("acme", "mobile-ios", "Swift"),
        ("acme", "admin-console", "TypeScript"),
        ("acme", "data-pipeline", "Python"),
        ("me", "dotfiles", "Shell"),
        ("acme", "auth-gateway", "Go"),
        ("oss", "fast-json", "Rust"),
        ("acme", "reports", "Python"),
        ("acme", "design-system", "TypeScript"),
        ("acme", "android-app", "Kotlin"),
        ("oss", "cli-kit", "Go"),
        ("acme", "notifications", "Elixir"),
        ("me", "blog", "JavaScript"),
        ("acme", "ml-experiments", "Python"),
        ("acme", "legacy-monolith", "Java"),
        ("acme", "storefront", "Ruby"),
        ("oss", "tiny-db", "Rust"),
        ("acme", "etl-jobs", "Python"),
        ("acme", "landing-page", "JavaScript"),
        ("acme", "infra-tools", "Go"),
        ("me", "advent-of-code", "Python"),
        ("acme", "chat-widget", "TypeScript"),
        ("acme", "pricing-engine", "Java"),
        ("oss", "parser-combinators", "Rust"),
        ("acme", "scheduler", "Python"),
        ("acme", "docs-site", "TypeScript"),
        ("me", "raytracer", "C++"),
        ("acme", "metrics-exporter", "Go"),
        ("acme", "feature-flags", "TypeScript"),
        ("acme", "invoice-pdf", "Python"),
        ("oss", "rails-plugin", "Ruby"),
        ("acme", "game-server", "C++"),
        ("me", "home-automation", "Python"),
        ("acme", "email-templates", "TypeScript"),
        ("acme", "geo-service", "Go"),
        ("oss", "wasm-demo", "Rust"),
        ("acme", "crm-sync", "Python"),
        ("acme", "browser-extension", "JavaScript"),
        ("me", "budget-app", "Kotlin"),
        ("acme", "backoffice", "Ruby"),
        ("acme", "image-resizer", "Go"),
        ("oss", "lsp-server", "TypeScript"),
        ("acme", "fraud-rules", "Python"),
        ("me", "scripts", "Shell"),
        ("acme", "media-transcoder", "Rust"),
        ("acme", "analytics-ui", "TypeScript"),
    )
]
#: Projects in use all year; the others live for a few weeks or months.
YEAR_LONG = 18

SOURCES = (("flag", 0.38), ("trailer", 0.22), ("journal", 0.17), ("env", 0.15), ("unknown", 0.08))
# chance that a commit gets a grade by its agent / by the user (unknown commits: no agent ran)
GRADE_CHANCE = {"known": (0.95, 0.80), "unknown": (0.15, 0.55)}
VERBS = ("Fix", "Add", "Refactor", "Update", "Remove", "Speed up", "Document", "Test", "Rename")
THINGS = (
    "retry in the worker pool",
    "pagination of the list endpoint",
    "config loading",
    "flaky integration test",
    "error messages for bad input",
    "cache invalidation",
    "CI workflow",
    "dependency versions",
    "logging of slow requests",
    "date parsing across time zones",
    "the settings page",
    "memory use of the importer",
    "README examples",
)


class GenError(Exception):
    """The database could not be built, or it does not hold what was generated: exit 2."""


def default_out(scale: float) -> Path:
    """bench/out/history.lmdb at --scale 1, else bench/out/history-<scale>.lmdb."""
    name = "history.lmdb" if scale == 1 else f"history-{scale:g}.lmdb"
    return HERE / "out" / name


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Build a synthetic agent-tracker database of a year of heavy use (at --scale 1: "
            "20 setups, 50 projects, 365 days, 100k commits, 200k grades, 2M tool calls, "
            "200k commands) through events.make/encode, the live journal and flush."
        ),
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="database folder to create (default bench/out/history.lmdb, or "
        "bench/out/history-<scale>.lmdb when --scale is not 1)",
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="fraction of the full event counts, e.g. 0.1 for a quick run; setups, projects "
        "and days stay the same (default 1)",
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument(
        "--chunk",
        type=int,
        default=200_000,
        help="events appended to the live journal between flushes (default 200000)",
    )
    parser.add_argument(
        "--max-database-size",
        default="2GiB",
        help="max_database_size for the build (default 2GiB, the largest accepted)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace --out if it holds a database made by this script",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)
    if not 0 < args.scale <= 2:
        parser.error("--scale must lie in (0, 2]")
    if args.chunk < 1000:
        parser.error("--chunk must be at least 1000")
    if args.out is None:
        args.out = default_out(args.scale)
    return args


# -- the plan: days and sessions (depends on the seed only) ----------------------------------


class Session:
    __slots__ = ("commands", "commits", "duration", "project", "setup", "start", "tools")

    def __init__(self, setup: int, project: int, start: float, duration: float) -> None:
        self.setup = setup
        self.project = project
        self.start = start
        self.duration = duration
        self.tools = self.commands = self.commits = 0


def _weighted_sample(rng: Random, items: list[int], weights: list[float], k: int) -> list[int]:
    """k distinct items, each draw weighted (without replacement)."""
    items, weights = list(items), list(weights)
    chosen = []
    for _ in range(min(k, len(items))):
        i = rng.choices(range(len(items)), weights=weights)[0]
        chosen.append(items.pop(i))
        weights.pop(i)
    return chosen


def _allocate(total: int, weights: list[float]) -> list[int]:
    """Split `total` in proportion to `weights` (largest remainder), summing exactly."""
    whole = sum(weights)
    raw = [total * w / whole for w in weights]
    counts = [int(x) for x in raw]
    short = total - sum(counts)
    by_remainder = sorted(range(len(raw)), key=lambda i: counts[i] - raw[i])
    for i in by_remainder[:short]:
        counts[i] += 1
    return counts


def plan_sessions(seed: int, first_day: date, counts: dict[str, int]) -> list[list[Session]]:
    """Per day, its sessions (setup, project, time) with their event counts.

    Everything random here comes from an RNG seeded by `seed` alone, so the same seed gives
    the same days, setups and projects at every scale; only the counts differ.
    """
    rng = Random(f"structure-{seed}")
    windows = []  # (first, last) day index of each project
    for i in range(len(PROJECTS)):
        if i < YEAR_LONG:
            windows.append((0, DAYS - 1))
        else:
            length = rng.randint(20, 200)
            begin = rng.randint(0, DAYS - length)
            windows.append((begin, begin + length - 1))
    project_weight = [1.0 / (1 + i) ** 0.7 for i in range(len(PROJECTS))]
    holidays = set()
    for begin, length in ((rng.randint(150, 200), 10), (rng.randint(330, 345), 7)):
        holidays.update(range(begin, begin + length))

    days: list[list[Session]] = []
    seen: set[int] = set()
    for d in range(DAYS):
        day = first_day + timedelta(days=d)
        weekday = day.weekday()
        sessions: list[Session] = []
        days.append(sessions)
        quiet = weekday >= 5
        if d in holidays or (quiet and rng.random() > (0.35 if weekday == 5 else 0.2)):
            continue
        fraction = d / (DAYS - 1)
        setups = [i for i, s in enumerate(SETUPS) if s[5] <= fraction <= s[6]]
        projects = [i for i, (lo, hi) in enumerate(windows) if lo <= d <= hi]
        n_projects = 1 if quiet else min(1 + rng.choices((1, 2, 3, 4, 5), (2, 4, 4, 2, 1))[0], 6)
        n_setups = 1 + (rng.random() < 0.4) if quiet else rng.choice((2, 3, 3, 4, 4, 5))
        today_projects = _weighted_sample(
            rng, projects, [project_weight[i] for i in projects], n_projects
        )
        unseen = [i for i in projects if i not in seen and i not in today_projects]
        if unseen and not quiet:
            today_projects.append(rng.choice(unseen))  # every project gets worked on
        seen.update(today_projects)
        today_setups = _weighted_sample(rng, setups, [SETUPS[i][4] for i in setups], n_setups)
        n_sessions = rng.randint(1, 3) if quiet else rng.randint(5, 14)
        day_start = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
        for n in range(n_sessions):
            # Each project of the day gets a session first, then any of them.
            project = today_projects[n] if n < len(today_projects) else rng.choice(today_projects)
            start = day_start + rng.uniform(6 * 3600, 21 * 3600)
            duration = min(rng.uniform(900, 4 * 3600), day_start + DAY - 1 - start)
            sessions.append(Session(rng.choice(today_setups), project, start, duration))
    flat = [s for sessions in days for s in sessions]
    size = [rng.lognormvariate(0, 0.8) * s.duration for s in flat]
    for name, attr, factor in (
        ("tool", "tools", lambda s: 1.0),
        ("command", "commands", lambda s: rng.uniform(0.5, 1.5)),
        ("commit", "commits", lambda s: SETUPS[s.setup][7] * rng.uniform(0.5, 1.5)),
    ):
        weights = [w * factor(s) for w, s in zip(size, flat, strict=True)]
        for s, n in zip(flat, _allocate(counts[name], weights), strict=True):
            setattr(s, attr, n)
    return days


def plan_grades(rng: Random, sources: list[str], total: int) -> list[list[int]]:
    """Per commit, [agent grade events, user grade events]; `total` events in all.

    Each party grades a commit at most once as a fact; events beyond the first are
    re-grades (the newest wins). Filled up (or trimmed) at random to exactly `total`.
    """
    plan = []
    for source in sources:
        p_agent, p_user = GRADE_CHANCE["unknown" if source == "unknown" else "known"]
        plan.append([int(rng.random() < p_agent), int(rng.random() < p_user)])
    graded = [(k, p) for k, parties in enumerate(plan) for p in (0, 1) if parties[p]]
    extra = total - len(graded)
    if extra > 0 and graded:
        for k, p in rng.choices(graded, k=extra):
            plan[k][p] += 1
    elif extra < 0:
        for k, p in rng.sample(graded, -extra):
            plan[k][p] = 0
    return plan


# -- events ----------------------------------------------------------------------------------


def grade_weights(quality: float, by_agent: bool) -> list[float]:
    """Odds of -1, 1, 2, 5 for a commit by a setup of this quality (agents grade kindly)."""
    q = min(1.0, quality + 0.2) if by_agent else quality
    bad = 0.40 * (1 - q) + 0.03
    return [bad * (0.4 if by_agent else 1.0), 0.30, 0.20 + 0.35 * q, 0.02 + 0.20 * q]


class Generator:
    """Turns the plan into encoded journal lines, day by day, in time order."""

    def __init__(self, seed: int, counts: dict[str, int], now: float) -> None:
        from agent_tracker import events

        self.events = events
        self.rng = Random(f"events-{seed}")
        self.now = now
        self.counts = dict.fromkeys(("tool", "command", "commit", "grade"), 0)
        rng = self.rng
        cum = list(accumulate(share for _, share in SOURCES))
        self.sources = [
            SOURCES[min(bisect_right(cum, rng.random() * cum[-1]), len(SOURCES) - 1)][0]
            for _ in range(counts["commit"])
        ]
        self.grade_plan = plan_grades(rng, self.sources, counts["grade"])
        self.source_counts = {name: self.sources.count(name) for name, _ in SOURCES}
        self.later: list[tuple[float, int, bytes]] = []  # grades due after their commit's day
        self.seq = 0
        self.commit_index = 0
        self.hashes: set[str] = set()
        #: What the database must hold afterwards.
        self.final_score = 0
        self.grade_facts = 0
        self.graded_commits = 0
        self.tool_names = {
            harness: (list(names), list(accumulate(names.values())))
            for harness, names in TOOLS.items()
        }
        self.setups = [s[:3] for s in SETUPS]
        self.weights = {
            (i, by_agent): list(accumulate(grade_weights(s[3], by_agent)))
            for i, s in enumerate(SETUPS)
            for by_agent in (True, False)
        }

    def line(
        self, kind: str, setup: tuple[str, str, str], project: str, ts: float, **fields: Any
    ) -> bytes:
        event = self.events.make(kind, setup, project, **fields)
        event["ts"] = round(ts, 3)
        self.counts[kind] += 1
        return self.events.encode(event)

    def day(self, sessions: list[Session], day_end: float) -> list[bytes]:
        """The journal lines of one day (and of earlier commits' grades due today), in order."""
        rng = self.rng
        out: list[tuple[float, int, bytes]] = []
        for s in sessions:
            setup = self.setups[s.setup]
            project, language = PROJECTS[s.project]
            names, cum = self.tool_names[setup[0]]
            main_ext, extra_exts, commands = LANGUAGES[language]
            commands = commands + COMMON_COMMANDS
            start, duration = s.start, s.duration
            for name in rng.choices(names, cum_weights=cum, k=s.tools):
                ts = start + rng.random() * duration
                out.append((ts, 0, self.line("tool", setup, project, ts, name=name)))
            for name in rng.choices(commands, k=s.commands):
                ts = start + rng.random() * duration
                out.append((ts, 0, self.line("command", setup, project, ts, name=name)))
            for _ in range(s.commits):
                ts = start + rng.random() * duration
                out.append((ts, 0, self.commit(s.setup, project, main_ext, extra_exts, ts)))
        while self.later and self.later[0][0] < day_end:
            out.append(heapq.heappop(self.later))
        out.sort()
        return [line for _, _, line in out]

    def commit(
        self, setup_index: int, project: str, main_ext: str, extras: tuple[str, ...], ts: float
    ) -> bytes:
        rng = self.rng
        k = self.commit_index
        self.commit_index += 1
        source = self.sources[k]
        setup = UNKNOWN if source == "unknown" else self.setups[setup_index]
        commit_hash = f"{rng.getrandbits(160):040x}"
        while commit_hash in self.hashes:
            commit_hash = f"{rng.getrandbits(160):040x}"
        self.hashes.add(commit_hash)
        exts = {main_ext: 1 + min(int(rng.expovariate(0.5)), 30)}
        for ext in extras:
            if rng.random() < 0.15:
                exts[ext] = 1 + (rng.random() < 0.2)
        files = sum(exts.values())
        insertions = int(rng.lognormvariate(2.5, 1.1) * files) + 1
        line = self.line(
            "commit",
            setup,
            project,
            ts,
            hash=commit_hash,
            subject=f"{rng.choice(VERBS)} {rng.choice(THINGS)}",
            author_time=int(ts) - rng.randint(0, 90),
            files=files,
            insertions=insertions,
            deletions=int(insertions * rng.random() * 0.8),
            exts=exts,
            source=source,
        )
        # Its grades: due later, kept in a heap until their day comes.
        agent_events, user_events = self.grade_plan[k]
        quality_setup = None if source == "unknown" else setup_index
        if agent_events or user_events:
            self.graded_commits += 1
        for by, n, first_delay, next_delay in (
            ("agent", agent_events, (10, 300), 1800),
            ("user", user_events, None, 86400),
        ):
            when = ts
            value = 0
            for i in range(n):
                if i == 0:
                    delay = rng.uniform(*first_delay) if first_delay else rng.expovariate(1 / 21600)
                else:
                    delay = rng.expovariate(1 / next_delay)
                when = min(when + 1 + delay, self.now - 1)
                value = self.grade_value(quality_setup, by == "agent")
                grade_setup = setup if by == "agent" or rng.random() < 0.5 else UNKNOWN
                grade = self.line(
                    "grade", grade_setup, project, when, hash=commit_hash, by=by, grade=value
                )
                self.seq += 1
                heapq.heappush(self.later, (when, self.seq, grade))
            if n:
                self.grade_facts += 1
                self.final_score += value
        return line

    def grade_value(self, setup_index: int | None, by_agent: bool) -> int:
        if setup_index is None:  # a commit nobody attributed: middling work
            cum = [0.25, 0.65, 0.93, 1.0]
        else:
            cum = self.weights[(setup_index, by_agent)]
        return (-1, 1, 2, 5)[bisect_right(cum, self.rng.random() * cum[-1])]

    def rest(self) -> list[bytes]:
        """Grades still waiting (all due before now)."""
        out = sorted(self.later)
        self.later = []
        return [line for _, _, line in out]


# -- building --------------------------------------------------------------------------------


def counts_for(scale: float) -> dict[str, int]:
    return {kind: round(n * scale) for kind, n in FULL.items()}


def remove_built(path: Path) -> None:
    """Delete a database folder made by this script (and nothing else)."""
    if not path.exists():
        return
    names = {p.name for p in path.iterdir()}
    if not path.is_dir() or not names <= {"data.mdb", "lock.mdb", MANIFEST}:
        raise GenError(
            f"{path} exists and is not a database made by gen_history.py; not touching it"
        )
    shutil.rmtree(path)


def read_manifest(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def build(args: argparse.Namespace) -> dict[str, Any]:
    out: Path = args.out.resolve()
    if out.exists():
        if not args.force:
            raise GenError(f"{out} exists; pass --force to rebuild it")
        if read_manifest(out) is None:
            raise GenError(f"{out} has no {MANIFEST}: not made by this script, not replacing it")
    partial = out.with_name(out.name + ".partial")
    remove_built(partial)
    out.parent.mkdir(parents=True, exist_ok=True)
    counts = counts_for(args.scale)
    original_env = dict(os.environ)
    try:
        with tempfile.TemporaryDirectory(prefix="agent-tracker-gen-") as tmp:
            env = isolated_env(Path(tmp))
            env["AGENT_TRACKER_DATABASE_PATH"] = str(partial)
            env["AGENT_TRACKER_MAX_DATABASE_SIZE"] = str(args.max_database_size)
            enter(env)
            manifest = generate(args, counts, partial)
    finally:
        enter(original_env)
    (partial / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    remove_built(out)
    partial.rename(out)
    return manifest


def generate(args: argparse.Namespace, counts: dict[str, int], db_path: Path) -> dict[str, Any]:
    from agent_tracker import config
    from agent_tracker.flush import flush
    from agent_tracker.journal import Journal
    from agent_tracker.paths import make_private_dir

    settings = config.load()
    started = time.perf_counter()
    now = time.time()
    today = datetime.fromtimestamp(now, UTC).date()
    first_day = today - timedelta(days=DAYS)
    plan = plan_sessions(args.seed, first_day, counts)
    gen = Generator(args.seed, counts, now)
    journal = Journal(settings.journal_dir)
    make_private_dir(journal.folder)
    totals = {"applied": 0, "duplicates": 0, "quarantined": 0, "flushes": 0}
    timing = {"generate": 0.0, "flush": 0.0}
    buffered = 0

    def write(lines: list[bytes]) -> None:
        nonlocal buffered
        if not lines:
            return
        t0 = time.perf_counter()
        data = b"".join(b"\n" + line.rstrip(b"\n") for line in lines)
        fd = os.open(journal.live_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        timing["generate"] += time.perf_counter() - t0
        buffered += len(lines)

    def do_flush(label: str) -> None:
        nonlocal buffered
        t0 = time.perf_counter()
        result = flush(settings)
        took = time.perf_counter() - t0
        timing["flush"] += took
        if result.busy:
            raise GenError("flush reported busy (another flush holds the lock?)")
        totals["applied"] += result.applied
        totals["duplicates"] += result.duplicates
        totals["quarantined"] += result.quarantined
        totals["flushes"] += 1
        if not args.quiet:
            print(
                f"  {label}: flushed {buffered:,} events in {took:.1f} s "
                f"({totals['applied']:,} applied so far)",
                file=sys.stderr,
            )
        buffered = 0

    for d, sessions in enumerate(plan):
        t0 = time.perf_counter()
        day = first_day + timedelta(days=d)
        day_end = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() + DAY
        lines = gen.day(sessions, day_end)
        timing["generate"] += time.perf_counter() - t0
        write(lines)
        if buffered >= args.chunk:
            do_flush(f"day {d + 1}/{DAYS} ({day})")
    t0 = time.perf_counter()
    lines = gen.rest()
    timing["generate"] += time.perf_counter() - t0
    write(lines)
    if buffered:
        do_flush("last grades")
    if gen.counts != counts:
        raise GenError(f"generated {gen.counts}, planned {counts}")
    checked = check(settings, counts, gen, totals)
    seconds = time.perf_counter() - started
    return {
        "generator": "bench/gen_history.py",
        "version": MANIFEST_VERSION,
        "scale": args.scale,
        "seed": args.seed,
        "built_at": datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "first_day": first_day.isoformat(),
        "last_day": (today - timedelta(days=1)).isoformat(),
        "max_database_size": settings.max_database_size,
        "events": counts,
        "events_total": sum(counts.values()),
        "sources": gen.source_counts,
        "grade_facts": gen.grade_facts,
        "graded_commits": gen.graded_commits,
        "active_days": sum(1 for sessions in plan if sessions),
        "sessions": sum(len(sessions) for sessions in plan),
        "setups": checked["setups"],
        "projects": checked["projects"],
        "day_records": checked["day_records"],
        "entries": checked["entries"],
        "used_bytes": checked["used_bytes"],
        "file_bytes": (db_path / "data.mdb").stat().st_size,
        "flushes": totals["flushes"],
        "seconds": {
            "total": round(seconds, 1),
            "generate": round(timing["generate"], 1),
            "flush": round(timing["flush"], 1),
        },
        "machine": machine(),
    }


def check(
    settings: Any, counts: dict[str, int], gen: Generator, totals: dict[str, int]
) -> dict[str, int]:
    """Compare the database with what was generated; returns its sizes."""
    from agent_tracker.store import LMDBDatabase

    try:
        from agent_tracker.records import Codec
    except ImportError:  # an agent-tracker before format 3: every key is text
        Codec = None

    db = LMDBDatabase.open_read(settings.database_path, settings.max_database_size)
    if db is None:
        raise GenError(f"no database at {settings.database_path}")
    with db:
        agents = db.agents()
        stats = db.stats()
        with db.env.begin() as txn:
            codec = None if Codec is None else Codec(txn)  # text keys, whatever the format
            cursor = txn.cursor()
            keys: dict[str, int] = {}
            if cursor.first():
                for raw in cursor.iternext(keys=True, values=False):
                    key = bytes(raw).decode() if codec is None else codec.logical(bytes(raw))
                    kind = "-" if key is None else key.split(":", 1)[0]
                    keys[kind] = keys.get(kind, 0) + 1

    def total(name: str) -> int:
        return sum(record[name] for record in agents)

    expected = [
        ("events applied", totals["applied"], sum(counts.values())),
        ("duplicates", totals["duplicates"], 0),
        ("lines quarantined", totals["quarantined"], 0),
        ("tool calls", total("tool_calls"), counts["tool"]),
        ("commands", total("commands"), counts["command"]),
        ("commits", total("commits"), counts["commit"]),
        ("commit facts", keys.get("commit", 0), counts["commit"]),
        ("grade facts", keys.get("communication", 0), gen.grade_facts),
        ("graded commits", total("graded_commits"), gen.graded_commits),
        ("score", total("score"), gen.final_score),
    ]
    wrong = [f"{name}: got {got}, expected {want}" for name, got, want in expected if got != want]
    if wrong:
        raise GenError("the database does not hold what was generated:\n  " + "\n  ".join(wrong))
    return {
        "setups": len(agents),
        "projects": keys.get("project", 0),
        "day_records": keys.get("day", 0),
        "entries": stats["entries"],
        "used_bytes": stats["used_bytes"],
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    try:
        manifest = build(args)
    except GenError as exc:
        print(f"gen_history: error: {exc}", file=sys.stderr)
        return 2
    took = time.perf_counter() - started
    events = manifest["events"]
    print(f"gen_history: {machine()}")
    print(f"built {args.out} (scale {manifest['scale']:g}, seed {manifest['seed']})")
    print(
        f"  events: {manifest['events_total']:,} = {events['tool']:,} tool calls, "
        f"{events['command']:,} commands, {events['commit']:,} commits, "
        f"{events['grade']:,} grades ({manifest['grade_facts']:,} grade facts on "
        f"{manifest['graded_commits']:,} graded commits; the rest are re-grades)"
    )
    print("  commit sources: " + ", ".join(f"{k} {v:,}" for k, v in manifest["sources"].items()))
    print(
        f"  {manifest['setups']} setups (incl. unknown), {manifest['projects']} projects, "
        f"{manifest['active_days']} active days of {DAYS} ({manifest['first_day']} to "
        f"{manifest['last_day']}), {manifest['sessions']:,} sessions"
    )
    print(
        f"  database: {manifest['entries']:,} entries, {manifest['day_records']:,} day: "
        f"records, {manifest['used_bytes'] / 1e6:.0f} MB used "
        f"({manifest['file_bytes'] / 1e6:.0f} MB file)"
    )
    seconds = manifest["seconds"]
    print(
        f"  took {took:.1f} s: {seconds['generate']:.1f} s making and writing events, "
        f"{seconds['flush']:.1f} s in {manifest['flushes']} flushes; all checks passed"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
