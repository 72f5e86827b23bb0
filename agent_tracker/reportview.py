"""The report as a person or a program reads it: Rich table, JSON, CSV or Markdown.

The table shows per group its user-graded commits, score (expected user grade on an average
project) with its 95% interval, P(best), the agent's own mean grade (`!` when it inflates)
and a sparkline of the weekly user mean; from `WIDE_WIDTH` columns on also XP, the revert
rate, projects and activity, from `SPENDING_WIDTH` on tool calls, tokens and cost per commit
and the failure rate. Narrower, it takes the richest of `TIERS` that fits: a setup shows as
`agent (harness)` over its model, and the trend, then the agent's own grade, then the count
drop out; below about 40 columns each group is a short block of lines. A name is never
broken inside a word: only after a `/` or `@` in it, or between words (`wrap_name`), and
prose is wrapped the same way (`prose`). Piped, the console is as wide as the lines need
(see `render.console`): every column, every paragraph on one line. The grade mix is in
`--setup`, JSON, CSV and Markdown. Each group's hints follow the table. Plain characters
without colour when stdout is not a terminal or NO_COLOR is set.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import date, timedelta

from rich import box
from rich.cells import cell_len
from rich.console import Console, JustifyMethod
from rich.table import Table
from rich.text import Text

from agent_tracker.errors import printable
from agent_tracker.ranking import MIN_USER_GRADED, TREND_WEEKS, Group
from agent_tracker.report import Report, SetupDetail
from agent_tracker.words import plural

SPARK = "▁▂▃▄▅▆▇█"
#: The terminal width from which the table also shows tokens, cost and failures.
SPENDING_WIDTH = 180
#: The terminal width from which it also shows XP, reverts, projects and activity.
WIDE_WIDTH = 140
#: The range of a user grade (bad -1 .. excellence +5): the scale of bars and sparklines.
LOW, HIGH = -1.0, 5.0
#: How each grade shows in the mix bar: a character (readable without colour) and a colour.
MIX_STYLE = {
    "bad": ("-", "red"),
    "neutral": ("=", "yellow"),
    "good": ("+", "green"),
    "excellence": ("#", "bright_cyan"),
}
CSV_COLUMNS = (
    "rank",
    "label",
    "harness",
    "agent",
    "model",
    "project",
    "commits",
    "expected_grade",
    "interval_low",
    "interval_high",
    "p_best",
    "user_graded",
    "user_mean",
    "user_projects",
    "eligible",
    "too_little_data",
    "worth_trying",
    "agent_graded",
    "agent_mean",
    "both_graded",
    "inflation",
    "inflation_warning",
    "reverted",
    "revert_rate",
    "hints",
    "graded_commits",
    "graded_share",
    "score",
    "mean_score",
    "grades",
    "bad",
    "neutral",
    "good",
    "excellence",
    "xp",
    "tool_calls",
    "commands",
    "tool_calls_per_commit",
    "projects",
    "active_days",
    "last_active",
    "instructions",
    "failures",
    "failure_share",
    "tokens",
    "tokens_in",
    "tokens_out",
    "tokens_cache_read",
    "tokens_cache_write",
    "tokens_per_commit",
    "commits_with_tokens",
    "cost",
    "cost_per_commit",
    "commits_with_cost",
    "instructions_seen",
)


def _fmt(value: float | None, sign: bool = True, digits: int = 1) -> str:
    if value is None:
        return "-"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def tokens_text(value: float | None) -> str:
    """Token counts in a few characters: 950, 12.3k, 4.5M, 1.2G."""
    if value is None:
        return "-"
    for limit, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= limit:
            short = value / limit
            return f"{short:.1f}{unit}" if short < 99.95 else f"{short:.0f}{unit}"
    return f"{value:.0f}"


def money(value: float | None) -> str:
    """Dollars: two decimals, or two significant digits below ten cents."""
    if value is None:
        return "-"
    return f"${value:,.2f}" if value >= 0.1 else f"${value:.2g}"


def _failed(group: Group) -> str:
    if group.failure_share is None:
        return "-"
    return f"{group.failures:,} ({group.failure_share:.0%})"


def mix_bar(mix: dict[str, int], width: int = 10) -> Text:
    """The grade mix as `width` cells, shared out by largest remainder (always full)."""
    total = sum(mix.values())
    if not total:
        return Text("·" * width, style="dim")
    exact = [mix.get(name, 0) * width / total for name in MIX_STYLE]
    cells = [int(x) for x in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: exact[i] - cells[i], reverse=True)
    for index in by_remainder[: width - sum(cells)]:
        cells[index] += 1
    text = Text()
    for (char, colour), count in zip(MIX_STYLE.values(), cells, strict=True):
        text.append(char * count, style=colour)
    return text


def sparkline(group: Group, last_week: str | None, weeks: int = TREND_WEEKS) -> str:
    """Weekly mean user grade, oldest first; `·` for a week without user grades."""
    if last_week is None:
        return ""
    year, week = last_week.split("-W")
    end = date.fromisocalendar(int(year), int(week), 1)
    chars = []
    for back in range(weeks - 1, -1, -1):
        iso = (end - timedelta(weeks=back)).isocalendar()
        slot = group.weekly.get(f"{iso[0]}-W{iso[1]:02d}")
        if not slot or not slot[0]:
            chars.append("·")
            continue
        share = min(max((slot[1] / slot[0] - LOW) / (HIGH - LOW), 0.0), 1.0)
        chars.append(SPARK[min(int(share * len(SPARK)), len(SPARK) - 1)])
    return "".join(chars)


def header(out: Console, report: Report) -> None:
    for warning in report.warnings:
        prose(out, f"warning: {warning}", style="yellow")
    prose(out, report.recommendation, style="bold")
    parts = [
        f"{plural(report.commits, 'commit')}, {report.user_graded} graded by you, "
        f"{report.overall_graded} by anyone"
    ]
    if report.attributed_share is not None:
        by_source = ", ".join(f"{k} {v}" for k, v in sorted(report.sources.items()) if v)
        parts.append(f"{report.attributed_share:.0%} attributed to a setup ({by_source})")
    parts.append(report.pending_text)
    prose(out, f"Evidence ({report.window}, UTC days): " + "; ".join(parts) + ".", style="dim")


def wrap_text(text: str, width: int) -> list[str]:
    """`text` in lines of at most `width` cells, broken between words; a word wider than
    `width` (a long setup's name) is broken after a `/` or `@` in it (`wrap_name`)."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for index, word in enumerate(paragraph.split(" ")):
            parts = wrap_name(word, width) if cell_len(word) > width else [word]
            for number, part in enumerate(parts):
                glue = " " if index and not number else ""
                if line and cell_len(line + glue + part) > width:
                    lines.append(line)
                    line = part
                else:
                    line += glue + part
        lines.append(line)
    return lines


def prose(out: Console, text: str, style: str = "") -> None:
    """A paragraph, wrapped at the console's width by `wrap_text` (so no name is broken
    inside a word); piped, one line."""
    for line in wrap_text(printable(text), out.width):
        out.print(Text(line, style=style), soft_wrap=True)


def _pieces(name: str) -> list[str]:
    """`name` cut where a line may break without breaking a word: after `/` or `@` (the
    parts of `harness/agent@provider/model`) and between words."""
    return [piece for piece in re.split(r"(?<=[/@])|(?<=\s)(?=\S)", name) if piece]


def _longest_piece(name: str) -> int:
    return max((cell_len(piece.rstrip()) for piece in _pieces(name)), default=0)


def wrap_name(name: str, width: int) -> list[str]:
    """`name` in lines of at most `width` cells, broken only between its pieces; a piece
    wider than `width` gets a line of its own (and is the only thing ever wider)."""
    lines: list[str] = []
    line = ""
    for piece in _pieces(name):
        if line and cell_len((line + piece).rstrip()) > width:
            lines.append(line.rstrip())
            line = ""
        line += piece
    lines.append(line.rstrip())
    return lines


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _agent(group: Group) -> str:
    """The agent's mean grade of its own commits, `!` when it inflates them."""
    return _fmt(group.agent_mean) + ("!" if group.inflated else "")


@dataclass
class _Column:
    """One column of the report's table: its header, its cells, how it lines up."""

    key: str
    header: str
    cells: list[Text]
    justify: JustifyMethod = "right"

    def width(self) -> int:
        lines = [*self.header.split("\n")]
        lines += [line for cell in self.cells for line in cell.plain.split("\n")]
        return max(cell_len(line) for line in lines)


@dataclass(frozen=True)
class _Tier:
    """A layout of the table: the columns beside the name, from which width on it is
    tried, and whether a setup's name is one line (`wide`) or its agent over its model."""

    keys: tuple[str, ...]
    from_width: int
    wide: bool


_COMPACT = ("rank", "label", "graded", "score", "p_best", "self", "trend")
_WIDE = (*_COMPACT, "xp", "reverted", "projects", "days", "last")
#: Richest first; the first that fits the width is shown. Narrow, the trend goes first,
#: then the agent's own grade, then the count of user-graded commits; below that each
#: group is a short block of lines (`_stacked`).
TIERS = (
    _Tier((*_WIDE, "calls", "tokens", "cost", "failed"), SPENDING_WIDTH, wide=True),
    _Tier(_WIDE, WIDE_WIDTH, wide=True),
    _Tier(_COMPACT, 0, wide=False),
    _Tier(_COMPACT[:-1], 0, wide=False),
    _Tier(_COMPACT[:-2], 0, wide=False),
    _Tier(("rank", "label", "score", "p_best"), 0, wide=False),
)
#: The narrowest a one-line name may be folded to in the wide layouts.
WIDE_LABEL = 34


def _columns(report: Report, weeks: int) -> dict[str, _Column]:
    """Every column the table can show but the name, with its cells."""
    groups = report.groups
    last_week = max((w for g in groups for w in g.weekly), default=None)
    scores = []
    for group in groups:
        score = Text(_fmt(group.score))
        if group.interval is not None:
            score.append(f" ±{(group.interval[1] - group.interval[0]) / 2:.1f}", style="dim")
        scores.append(score)
    columns = [
        _Column("rank", "#", [Text(str(g.rank)) for g in groups]),
        _Column("graded", "user\ngraded", [Text(_graded(g)) for g in groups]),
        _Column("score", "score", scores),
        _Column("p_best", "P(best)", [Text(_share(g.p_best)) for g in groups]),
        _Column("self", "agent\nself", [Text(_agent(g)) for g in groups]),
        _Column("trend", "trend", [Text(sparkline(g, last_week, weeks)) for g in groups], "left"),
        _Column("xp", "XP", [Text(f"{g.xp:,}") for g in groups]),
        _Column("reverted", "re-\nverted", [Text(_share(g.revert_rate)) for g in groups]),
        _Column("projects", "proj-\nects", [Text(str(len(g.projects))) for g in groups]),
        _Column("days", "active\ndays", [Text(str(len(g.days))) for g in groups]),
        _Column("last", "last\nactive", [Text(g.last_active or "-") for g in groups], "left"),
        _Column(
            "calls",
            "tool calls\n/commit",
            [Text(_fmt(g.tool_calls_per_commit, sign=False)) for g in groups],
        ),
        _Column(
            "tokens", "tokens\n/commit", [Text(tokens_text(g.tokens_per_commit)) for g in groups]
        ),
        _Column("cost", "cost\n/commit", [Text(money(g.cost_per_commit)) for g in groups]),
        _Column("failed", "failed", [Text(_share(g.failure_share)) for g in groups]),
    ]
    return {column.key: column for column in columns}


def _graded(group: Group) -> str:
    return f"{group.user_graded}/{group.commits}" + ("*" if group.too_little_data else "")


def _names(group: Group, by: str, wide: bool) -> list[tuple[str, str | None]]:
    """A group's name as (text, style) parts, each on lines of its own: in the narrow
    layouts a setup is `agent (harness)` over its model, so that long model names take a
    line of their own rather than fold in the middle of the agent's."""
    if by != "setup" or wide or group.model is None:
        return [(group.label, None)]
    head = group.agent or ""
    if group.harness and group.harness != "unknown":
        head += f" ({group.harness})"
    return [(head, None), (group.model, "italic")]


def _name_cell(parts: list[tuple[str, str | None]], width: int) -> Text:
    text = Text()
    for text_part, style in parts:
        for line in wrap_name(text_part, width):
            if text:
                text.append("\n")
            text.append(line, style=style)
    return text


def _chrome(tier: _Tier) -> int:
    """The cells the table's borders and padding take (see `_grid`)."""
    count = len(tier.keys)
    return 3 * count - 1 if tier.wide else 2 * (count - 1)


def _layout(report: Report, width: int) -> tuple[_Tier, dict[str, _Column], int] | None:
    """The richest tier that fits `width` without breaking a name inside a piece, its
    columns and the width of the name column; None when not even the narrowest does."""
    by = report.query.by
    made: dict[int, dict[str, _Column]] = {}  # by the weeks of the trend
    for tier in TIERS:
        if width < tier.from_width:
            continue
        weeks = TREND_WEEKS if tier.wide else 5
        columns = made.get(weeks) or made.setdefault(weeks, _columns(report, weeks))
        parts = [part for g in report.groups for part, _ in _names(g, by, tier.wide)]
        natural = max(cell_len(by), *(cell_len(part) for part in parts))
        least = max(cell_len(by), *(_longest_piece(part) for part in parts))
        if tier.wide:
            least = max(least, min(natural, WIDE_LABEL))
        fixed = sum(columns[key].width() for key in tier.keys if key != "label")
        room = width - _chrome(tier) - fixed
        if room >= least:
            return tier, columns, min(natural, room)
    return None


def _grid(out: Console, tier: _Tier) -> Table:
    """The table of a tier: in the wide layouts with a box (rounded on a colour terminal),
    in the narrow ones with a rule under the header and two spaces between columns."""
    if tier.wide:
        plain = not out.is_terminal or out.no_color
        return Table(box=box.SIMPLE_HEAD if plain else box.ROUNDED, pad_edge=False)
    return Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 0, 0, 1))


def table(out: Console, report: Report) -> None:
    if not report.groups:
        empty(out, report)
        return
    header(out, report)
    layout = _layout(report, out.width)
    shown = set(_COMPACT[:-1]) if layout is None else set(layout[0].keys)
    if layout is None:
        _stacked(out, report)
    else:
        tier, columns, label_width = layout
        grid = _grid(out, tier)
        for key in tier.keys:
            if key == "label":
                grid.add_column(report.query.by, width=label_width, no_wrap=True)
            else:
                column = columns[key]
                grid.add_column(
                    column.header, justify=column.justify, width=column.width(), no_wrap=True
                )
        for index, group in enumerate(report.groups):
            row = [
                _name_cell(_names(group, report.query.by, tier.wide), label_width)
                if key == "label"
                else columns[key].cells[index]
                for key in tier.keys
            ]
            grid.add_row(*row, style=None if group.eligible else "dim")
        out.print(grid)
    prose(out, _legend(shown), style="dim")
    for group in report.groups:
        for hint in group.hints:
            prose(out, f"{group.label}: {hint}")


def _legend(shown: set[str]) -> str:
    parts = ["score: expected user grade on an average project ± 95%"]
    if "self" in shown:
        parts.append("agent self: the agent's mean grade of its own commits (! inflated)")
    if "graded" in shown:
        parts.append(f"* fewer than {MIN_USER_GRADED} user-graded commits")
    return "; ".join(parts)


def _stacked(out: Console, report: Report) -> None:
    """Too narrow for a table: each group as its name over a few `name value` items, an
    item never split over two lines."""
    indent = len(str(max(g.rank for g in report.groups))) + 2
    room = max(out.width - indent, 1)
    last_week = max((w for g in report.groups for w in g.weekly), default=None)
    for group in report.groups:
        style = None if group.eligible else "dim"
        lines: list[Text] = []
        for part, part_style in _names(group, report.query.by, wide=False):
            lines += [Text(line, style=part_style or "") for line in wrap_name(part, room)]
        score = _fmt(group.score)
        if group.interval is not None:
            score += f" ±{(group.interval[1] - group.interval[0]) / 2:.1f}"
        items = [
            f"score {score}",
            f"P(best) {_share(group.p_best)}",
            f"user graded {_graded(group)}",
            f"agent self {_agent(group)}",
            f"trend {sparkline(group, last_week, 5)}",
        ]
        line = ""
        for item in items:
            if line and cell_len(f"{line}  {item}") > room:
                lines.append(Text(line))
                line = item
            else:
                line = f"{line}  {item}" if line else item
        lines.append(Text(line))
        for number, text in enumerate(lines):
            lead = f"{group.rank:>{indent - 2}}  " if number == 0 else " " * indent
            out.print(Text.assemble(lead, text), style=style, soft_wrap=True)


def empty(out: Console, report: Report) -> None:
    if report.database_exists or report.pending_events:
        out.print("Nothing matches these filters.")
        return
    out.print("No agent activity recorded yet.")
    out.print(
        "Start with `agent-tracker hooks install` in a repository, let your agents call "
        "`agent-tracker track tool NAME`, grade commits with `agent-tracker grade`, then "
        "`git push` (or `agent-tracker flush`)."
    )


def setup_detail(out: Console, detail: SetupDetail) -> None:
    """`report --setup`: the setup ranked among all, its grade mix and trend, its projects."""
    if not detail.setups:
        out.print(f"No setup matches {detail.wanted!r} in this period.")
        return
    for group in detail.setups:
        prose(out, group.label, style="bold")
        share = None if group.graded_share is None else group.graded_share * 100
        interval = (
            ""
            if group.interval is None
            else f" (95% interval {group.interval[0]:+.1f} to {group.interval[1]:+.1f})"
        )
        prose(
            out,
            f"rank {group.rank} of {len(detail.among.groups)} setups; expected user grade on "
            f"an average project {_fmt(group.score)}{interval}, P(best) "
            f"{_share(group.p_best)}; {group.user_graded} user-graded commits in "
            f"{group.user_projects} projects, raw user mean {_fmt(group.user_mean)}; "
            f"{plural(group.commits, 'commit')}, {group.graded_commits} graded "
            f"({_fmt(share, sign=False, digits=0)}%); {group.xp:,} XP; "
            f"{group.tool_calls:,} tool calls, {group.commands:,} commands; "
            f"{len(group.projects)} projects, {len(group.days)} active days, "
            f"last {group.last_active or '-'}",
        )
        prose(
            out,
            f"agent self-grades: mean {_fmt(group.agent_mean)} over {group.agent_graded} "
            f"commits; {_fmt(group.inflation)} above yours over the {group.both_graded} both "
            f"graded{' (inflated)' if group.inflated else ''}; reverted "
            f"{group.reverted} ({_share(group.revert_rate)}); communication score "
            f"{group.communication_score} ({_fmt(group.mean)} per graded commit)",
        )
        for hint in group.hints:
            prose(out, f"note: {hint}")
        mix = ", ".join(f"{name} {count}" for name, count in group.mix.items())
        bar = Text.assemble("grades: ", mix_bar(group.mix, 20))
        if cell_len(f"{bar.plain}  {mix}") <= out.width:
            out.print(Text.assemble(bar, f"  {mix}"))
        else:  # the counts under the bar
            out.print(bar)
            prose(out, f"        {mix}")
        prose(out, _spending(group))
        seen = ", ".join(sorted(group.fingerprints)) or "none recorded"
        prose(out, f"instructions (fingerprints): {seen}")
        weeks = sorted(group.weekly)
        out.print(
            f"weekly user mean (last {TREND_WEEKS} weeks): "
            f"{sparkline(group, weeks[-1] if weeks else None)}"
        )
    out.print()
    table(out, detail.projects)


def _spending(group: Group) -> str:
    """`report --setup`: tokens, cost and failures of one setup, in one line."""
    if group.tokens or group.commits_with_tokens:
        parts = [
            f"tokens {tokens_text(group.tokens)} (in {tokens_text(group.tokens_in)}, "
            f"out {tokens_text(group.tokens_out)}, "
            f"cache read {tokens_text(group.tokens_cache_read)}, "
            f"cache write {tokens_text(group.tokens_cache_write)})"
        ]
    else:  # nothing reported tokens: not the same as none spent
        parts = ["tokens -"]
    if group.tokens_per_commit is not None:
        parts.append(
            f"{tokens_text(group.tokens_per_commit)} tokens per commit "
            f"(over {group.commits_with_tokens} commits that report it)"
        )
    parts.append(f"cost {money(group.cost)}")
    if group.cost_per_commit is not None:
        parts.append(
            f"{money(group.cost_per_commit)} per commit (over {group.commits_with_cost} commits)"
        )
    parts.append(f"{_failed(group)} failed tool calls and commands")
    return "; ".join(parts)


def _cell(value: object) -> object:
    return printable(value) if isinstance(value, str) else value


def csv_text(report: Report) -> str:
    import csv  # only for --format csv

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for group in report.groups:
        data = group.as_dict()
        interval = data.pop("interval") or [None, None]
        data.update(data.pop("mix"))
        data["interval_low"], data["interval_high"] = interval
        data["instructions_seen"] = " ".join(data["instructions_seen"])
        data["hints"] = "; ".join(data["hints"])
        # Each cell escaped on its own: a line break in a name must not start a new row.
        writer.writerow(
            {key: "" if data.get(key) is None else _cell(data[key]) for key in CSV_COLUMNS}
        )
    return buffer.getvalue()


def markdown_text(report: Report) -> str:
    lines = [report.recommendation, ""]
    if report.groups:
        lines += [
            f"| # | {report.query.by} | user graded/commits | score | 95% interval | P(best) | "
            "agent self | inflation | reverted | bad/neutral/good/excellence | XP | tool calls | "
            "commands | projects | active days | last active | tokens | tokens/commit | cost | "
            "cost/commit | failed |",
            "|---:|---|---:|---:|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---|---:|"
            "---:|---:|---:|---:|",
        ]
        for group in report.groups:
            interval = (
                "-"
                if group.interval is None
                else f"{group.interval[0]:+.1f} to {group.interval[1]:+.1f}"
            )
            flag = " (too little data)" if group.too_little_data else ""
            label = printable(group.label).replace("|", "\\|")
            mix = "/".join(str(count) for count in group.mix.values())
            inflation = _fmt(group.inflation) + (" (!)" if group.inflated else "")
            lines.append(
                f"| {group.rank} | {label}{flag} | {group.user_graded}/{group.commits} | "
                f"{_fmt(group.score)} | {interval} | {_share(group.p_best)} | "
                f"{_fmt(group.agent_mean)} | {inflation} | {_share(group.revert_rate)} | "
                f"{mix} | {group.xp} | {group.tool_calls} | {group.commands} | "
                f"{len(group.projects)} | {len(group.days)} | {group.last_active or '-'} | "
                f"{group.tokens or '-'} | {_fmt(group.tokens_per_commit, sign=False, digits=0)} | "
                f"{money(group.cost)} | {money(group.cost_per_commit)} | {_failed(group)} |"
            )
        notes = [
            printable(f"- {group.label}: {hint}") for group in report.groups for hint in group.hints
        ]
        if notes:
            lines += ["", *notes]
    return "\n".join(lines) + "\n"
