"""The report as a person or a program reads it: Rich table, JSON, CSV or Markdown.

The table fits an 80-column terminal (wider terminals get more columns), draws small bars
for the score and the grade mix and a sparkline of the weekly score, and falls back to plain
characters without colour when stdout is not a terminal or NO_COLOR is set.
"""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from agent_tracker.report import MIN_GRADED, TREND_WEEKS, Group, Report

SPARK = "▁▂▃▄▅▆▇█"
#: The range a commit's score can take (two grades of -1..+5).
LOW, HIGH = -2.0, 10.0
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
    "graded_commits",
    "graded_share",
    "mean_score",
    "shrunk_score",
    "interval_low",
    "interval_high",
    "too_little_data",
    "score",
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
)


def _fmt(value: float | None, sign: bool = True, digits: int = 1) -> str:
    if value is None:
        return "-"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def score_bar(value: float | None, width: int = 5) -> str:
    if value is None:
        return " " * width
    share = min(max((value - LOW) / (HIGH - LOW), 0.0), 1.0)
    filled = round(share * width)
    return "█" * filled + "░" * (width - filled)


def mix_bar(mix: dict[str, int], width: int = 10) -> Text:
    total = sum(mix.values())
    text = Text()
    if not total:
        return Text("·" * width, style="dim")
    used = 0
    for position, (name, (char, colour)) in enumerate(MIX_STYLE.items()):
        count = mix.get(name, 0)
        cells = width - used if position == len(MIX_STYLE) - 1 else round(count / total * width)
        cells = min(cells, width - used) if count else 0
        text.append(char * cells, style=colour)
        used += cells
    return text


def sparkline(group: Group, last_week: str | None, weeks: int = TREND_WEEKS) -> str:
    """Weekly mean score per graded commit, oldest first; `·` for a week without grades."""
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
    # Prose is wrapped at the terminal's width by words (the console's default is not to).
    out.print(Text(report.recommendation, style="bold"), soft_wrap=False)
    parts = [f"{report.commits} commits, {report.overall_graded} graded"]
    if report.attributed_share is not None:
        by_source = ", ".join(f"{k} {v}" for k, v in sorted(report.sources.items()) if v)
        parts.append(f"{report.attributed_share:.0%} attributed to a setup ({by_source})")
    if report.query.include_pending:
        parts.append(f"{report.pending_events} pending events included")
    else:
        parts.append(f"{report.pending_events} pending events left out (--flushed-only)")
    window = f"{report.since or 'start'} to {report.until or 'today'}"
    out.print(
        escape(f"Evidence ({window}): " + "; ".join(parts) + "."), style="dim", soft_wrap=False
    )


def table(out: Console, report: Report) -> None:
    if not report.groups:
        empty(out, report)
        return
    header(out, report)
    wide = out.width >= 140  # room for every column and a 34-character label
    plain = not out.is_terminal or out.no_color
    grid = Table(box=box.SIMPLE_HEAD if plain else box.ROUNDED, pad_edge=False)
    what = report.query.by
    grid.add_column("#", justify="right")
    grid.add_column(what, overflow="fold", min_width=34 if wide else 20)
    grid.add_column("graded", justify="right")
    grid.add_column("score/commit", justify="right", no_wrap=True)
    grid.add_column("mix", no_wrap=True)
    grid.add_column("trend", no_wrap=True)
    grid.add_column("XP", justify="right")
    if wide:
        grid.add_column("tools/\ncommit", justify="right")
        grid.add_column("proj-\nects", justify="right")
        grid.add_column("active\ndays", justify="right")
        grid.add_column("last\nactive", no_wrap=True)
    last_week = max((w for g in report.groups for w in g.weekly), default=None)
    # In 80 columns the label needs the room: narrower bars, fewer weeks, no score bar.
    mix_width, weeks = (10, TREND_WEEKS) if wide else (6, 6)
    for group in report.groups:
        graded = f"{group.graded_commits}/{group.commits}" + ("*" if group.too_little_data else "")
        bar = f"{score_bar(group.shrunk)} " if wide else ""
        score = Text(f"{bar}{_fmt(group.shrunk)}")
        if group.interval is not None:
            score.append(f" ±{(group.interval[1] - group.interval[0]) / 2:.1f}", style="dim")
        row: list[Any] = [
            str(group.rank),
            escape(group.label),
            graded,
            score,
            mix_bar(group.mix, mix_width),
            sparkline(group, last_week, weeks),
            f"{group.xp:,}",
        ]
        if wide:
            row += [
                _fmt(group.tool_calls_per_commit, sign=False),
                str(len(group.projects)),
                str(len(group.days)),
                group.last_active or "-",
            ]
        grid.add_row(*row, style="dim" if group.too_little_data else None)
    out.print(grid)
    legend = "mix: - bad  = neutral  + good  # excellence;  score/commit: shrunk mean ± 95%"
    out.print(
        f"{legend};  * fewer than {MIN_GRADED} graded commits: too little data",
        style="dim",
        soft_wrap=False,
    )


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


def setup_detail(out: Console, overall: Report, per_project: Report) -> None:
    """`report --setup`: one setup's totals, grade mix and trend, then its projects."""
    if not overall.groups:
        empty(out, overall)
        return
    group = overall.groups[0]
    out.print(Text(group.label, style="bold"))
    out.print(
        f"{group.commits} commits, {group.graded_commits} graded "
        f"({_fmt(group.graded_share and group.graded_share * 100, sign=False, digits=0)}%); "
        f"mean score per graded commit {_fmt(group.mean)} "
        f"(shrunk {_fmt(group.shrunk)}); {group.xp:,} XP; {group.tool_calls:,} tool calls, "
        f"{group.commands:,} commands; {len(group.projects)} projects, {len(group.days)} "
        f"active days, last {group.last_active or '-'}"
    )
    mix = ", ".join(f"{name} {count}" for name, count in group.mix.items())
    out.print(Text.assemble("grades: ", mix_bar(group.mix, 20), f"  {mix}"))
    weeks = sorted(group.weekly)
    out.print(
        f"weekly score (last {TREND_WEEKS} weeks): {sparkline(group, weeks[-1] if weeks else None)}"
    )
    table(out, per_project)


def csv_text(report: Report) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for group in report.groups:
        data = group.as_dict()
        interval = data.pop("interval") or [None, None]
        data.update(data.pop("mix"))
        data["interval_low"], data["interval_high"] = interval
        writer.writerow({key: "" if data.get(key) is None else data[key] for key in CSV_COLUMNS})
    return buffer.getvalue()


def markdown_text(report: Report) -> str:
    lines = [report.recommendation, ""]
    if report.groups:
        lines += [
            f"| # | {report.query.by} | graded | score/commit | 95% interval | XP | projects | "
            "last active |",
            "|---:|---|---:|---:|---|---:|---:|---|",
        ]
        for group in report.groups:
            interval = (
                "-"
                if group.interval is None
                else f"{group.interval[0]:+.1f} to {group.interval[1]:+.1f}"
            )
            flag = " (too little data)" if group.too_little_data else ""
            label = group.label.replace("|", "\\|")
            lines.append(
                f"| {group.rank} | {label}{flag} | {group.graded_commits}/{group.commits} | "
                f"{_fmt(group.shrunk)} | {interval} | {group.xp} | {len(group.projects)} | "
                f"{group.last_active or '-'} |"
            )
    return "\n".join(lines) + "\n"
