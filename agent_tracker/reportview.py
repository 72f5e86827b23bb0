"""The report as a person or a program reads it: Rich table, JSON, CSV or Markdown.

The table fits an 80-column terminal: per group its user-graded commits, score (expected user
grade on an average project) with its 95% interval, P(best), the agent's own mean grade
(`!` when it inflates) and a sparkline of the weekly user mean; from 140 columns on also XP,
the revert rate, projects and activity, from `SPENDING_WIDTH` on tool calls, tokens and
cost per commit and the failure rate. The grade mix is in `--setup`, JSON, CSV and Markdown.
Each group's hints follow the table. Plain characters without colour when stdout is not a
terminal or NO_COLOR is set.
"""

from __future__ import annotations

import io
from datetime import date, timedelta
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from agent_tracker.errors import printable
from agent_tracker.ranking import MIN_USER_GRADED, TREND_WEEKS, Group
from agent_tracker.report import Report, SetupDetail

SPARK = "▁▂▃▄▅▆▇█"
#: The terminal width from which the table also shows tokens, cost and failures.
SPENDING_WIDTH = 180
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


def _window(report: Report) -> str:
    if report.since and report.until:
        return f"{report.since} to {report.until}"
    if report.since:
        return f"since {report.since}"
    if report.until:
        return f"until {report.until}"
    return "all time"


def header(out: Console, report: Report) -> None:
    for warning in report.warnings:
        out.print(f"warning: {warning}", style="yellow", soft_wrap=False)
    # Prose is wrapped at the terminal's width by words (the console's default is not to).
    out.print(Text(report.recommendation, style="bold"), soft_wrap=False)
    parts = [
        f"{report.commits} commits, {report.user_graded} graded by you, "
        f"{report.overall_graded} by anyone"
    ]
    if report.attributed_share is not None:
        by_source = ", ".join(f"{k} {v}" for k, v in sorted(report.sources.items()) if v)
        parts.append(f"{report.attributed_share:.0%} attributed to a setup ({by_source})")
    if report.query.include_pending:
        parts.append(f"{report.pending_events} pending events included")
    else:
        parts.append(f"{report.pending_events} pending events left out (--flushed-only)")
    out.print(
        escape(f"Evidence ({_window(report)}, UTC days): " + "; ".join(parts) + "."),
        style="dim",
        soft_wrap=False,
    )


def _label(group: Group, by: str, wide: bool) -> Text:
    """In narrow tables a setup shows as `agent (harness)` over its model, so that long model
    names fold at their own line rather than in the middle of the agent's."""
    if by != "setup" or wide or group.model is None:
        return Text(group.label)
    head = group.agent or ""
    if group.harness and group.harness != "unknown":
        head += f" ({group.harness})"
    return Text.assemble(head, "\n", (group.model, "italic"))


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _agent(group: Group) -> str:
    """The agent's mean grade of its own commits, `!` when it inflates them."""
    return _fmt(group.agent_mean) + ("!" if group.inflated else "")


def table(out: Console, report: Report) -> None:
    if not report.groups:
        empty(out, report)
        return
    header(out, report)
    wide = out.width >= 140  # room for every column and a 34-character label
    spending = out.width >= SPENDING_WIDTH
    plain = not out.is_terminal or out.no_color
    grid = Table(box=box.SIMPLE_HEAD if plain else box.ROUNDED, pad_edge=False)
    what = report.query.by
    grid.add_column("#", justify="right")
    grid.add_column(what, overflow="fold", min_width=34 if wide else 18)
    grid.add_column("user\ngraded", justify="right")
    grid.add_column("score", justify="right", no_wrap=True)
    grid.add_column("P(best)", justify="right", no_wrap=True)
    grid.add_column("agent\nself", justify="right", no_wrap=True)
    grid.add_column("trend", no_wrap=True)
    if wide:
        grid.add_column("XP", justify="right")
        grid.add_column("re-\nverted", justify="right")
        grid.add_column("proj-\nects", justify="right")
        grid.add_column("active\ndays", justify="right")
        grid.add_column("last\nactive", no_wrap=True)
    if spending:
        grid.add_column("tool calls\n/commit", justify="right", no_wrap=True)
        grid.add_column("tokens\n/commit", justify="right", no_wrap=True)
        grid.add_column("cost\n/commit", justify="right", no_wrap=True)
        grid.add_column("failed", justify="right", no_wrap=True)
    last_week = max((w for g in report.groups for w in g.weekly), default=None)
    # In 80 columns the label needs the room: fewer weeks.
    weeks = TREND_WEEKS if wide else 5
    for group in report.groups:
        graded = f"{group.user_graded}/{group.commits}" + ("*" if group.too_little_data else "")
        score = Text(_fmt(group.score))
        if group.interval is not None:
            score.append(f" ±{(group.interval[1] - group.interval[0]) / 2:.1f}", style="dim")
        row: list[Any] = [
            str(group.rank),
            _label(group, what, wide),
            graded,
            score,
            _share(group.p_best),
            _agent(group),
            sparkline(group, last_week, weeks),
        ]
        if wide:
            row += [
                f"{group.xp:,}",
                _share(group.revert_rate),
                str(len(group.projects)),
                str(len(group.days)),
                group.last_active or "-",
            ]
        if spending:
            row += [
                _fmt(group.tool_calls_per_commit, sign=False),
                tokens_text(group.tokens_per_commit),
                money(group.cost_per_commit),
                _share(group.failure_share),
            ]
        grid.add_row(*row, style=None if group.eligible else "dim")
    out.print(grid)
    legend = (
        "score: expected user grade on an average project ± 95%; agent self: the agent's mean "
        f"grade of its own commits (! inflated); * fewer than {MIN_USER_GRADED} user-graded "
        "commits"
    )
    out.print(Text(legend, style="dim"), soft_wrap=False)
    for group in report.groups:
        for hint in group.hints:
            out.print(Text(f"{group.label}: {hint}"), soft_wrap=False)


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
        out.print(Text(group.label, style="bold"))
        share = None if group.graded_share is None else group.graded_share * 100
        interval = (
            ""
            if group.interval is None
            else f" (95% interval {group.interval[0]:+.1f} to {group.interval[1]:+.1f})"
        )
        out.print(
            f"rank {group.rank} of {len(detail.among.groups)} setups; expected user grade on "
            f"an average project {_fmt(group.score)}{interval}, P(best) "
            f"{_share(group.p_best)}; {group.user_graded} user-graded commits in "
            f"{group.user_projects} projects, raw user mean {_fmt(group.user_mean)}; "
            f"{group.commits} commits, {group.graded_commits} graded "
            f"({_fmt(share, sign=False, digits=0)}%); {group.xp:,} XP; "
            f"{group.tool_calls:,} tool calls, {group.commands:,} commands; "
            f"{len(group.projects)} projects, {len(group.days)} active days, "
            f"last {group.last_active or '-'}",
            soft_wrap=False,
        )
        out.print(
            f"agent self-grades: mean {_fmt(group.agent_mean)} over {group.agent_graded} "
            f"commits; {_fmt(group.inflation)} above yours over the {group.both_graded} both "
            f"graded{' (inflated)' if group.inflated else ''}; reverted "
            f"{group.reverted} ({_share(group.revert_rate)}); communication score "
            f"{group.communication_score} ({_fmt(group.mean)} per graded commit)",
            soft_wrap=False,
        )
        for hint in group.hints:
            out.print(f"note: {hint}", soft_wrap=False)
        mix = ", ".join(f"{name} {count}" for name, count in group.mix.items())
        out.print(Text.assemble("grades: ", mix_bar(group.mix, 20), f"  {mix}"))
        out.print(_spending(group), soft_wrap=False)
        seen = ", ".join(sorted(group.fingerprints)) or "none recorded"
        out.print(f"instructions (fingerprints): {seen}", soft_wrap=False)
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
