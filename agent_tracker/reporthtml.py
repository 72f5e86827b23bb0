"""`report --format html`: the report as one self-contained web page with charts.

The page holds everything it needs inline: the figures (from the same `Report` the table and
JSON show), Chart.js (vendored unmodified in `assets/vendor/chartjs`, see the README there)
and our own script and style sheet (`assets/report.js`, `assets/report.css`). Its
Content-Security-Policy allows exactly those inline scripts and that style sheet (by hash)
and nothing from anywhere else, so the page never touches the network, and a name that got
past the escaping still could not run anything.

Escaping, the page's one invariant: every name written into the HTML goes through
`htmlsections.text` (control and bidi characters shown as escapes, as the terminal shows
them, then HTML-escaped); the figures the charts draw travel as JSON in a `<script
type="application/json">` block where `<`, `>`, `&` and U+2028/U+2029 are `\\u` escapes, so
no `</script>` or `<!--` inside a name can end or change the block; and the page's script
hands names only to Chart.js (which draws them on canvases) or to `textContent`.

This module and its assets are loaded only when html is asked for (`cli_fast.show`).
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TextIO

from agent_tracker import __version__, events, htmlsections
from agent_tracker.errors import printable
from agent_tracker.htmlsections import MAX_CHART_ROWS, TREND_LINES, text
from agent_tracker.ranking import MIN_USER_GRADED, Group
from agent_tracker.report import Report

ASSETS = Path(__file__).resolve().parent / "assets"
CHART_JS = ASSETS / "vendor" / "chartjs" / "chart.umd.min.js"
CHART_JS_VERSION = "4.6.1"
#: The vendored file's checksum (the same as in its README; tests/test_html.py checks both).
CHART_JS_SHA256 = "87364cc2b2a76a6684929e7d6b80b18a897794db38400caff1fcf1791c6925d2"
#: The weekly trend spans at most this many weeks, up to the last week with a user grade.
MAX_WEEKS = 104
#: One colour per group, in rank order (the trend's lines must be told apart).
PALETTE = (
    "#2563eb",
    "#d97706",
    "#059669",
    "#dc2626",
    "#7c3aed",
    "#0891b2",
    "#be185d",
    "#65a30d",
    "#475569",
    "#c2410c",
)
#: A chart label's line is clipped to this many characters (the table shows it whole).
MAX_LABEL_LINE = 48
#: How far a group's interval colour is mixed toward white.
LIGHTEN = 0.6
#: The grades' colours in the mix, bad to excellence (as `reportview.MIX_STYLE` names them).
MIX_COLOURS = {
    "bad": "#dc2626",
    "neutral": "#eab308",
    "good": "#16a34a",
    "excellence": "#0891b2",
}
_SCRIPT_ESCAPES = {
    ord("<"): "\\u003c",
    ord(">"): "\\u003e",
    ord("&"): "\\u0026",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}


def script_json(data: Any) -> str:
    """`data` as JSON that cannot end or alter the `<script>` element holding it."""
    return json.dumps(data, ensure_ascii=False, sort_keys=True).translate(_SCRIPT_ESCAPES)


def lighter(colour: str, share: float = LIGHTEN) -> str:
    """`#rrggbb` mixed with white by `share` (opaque, so charts draw exact colours)."""
    rgb = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return "#" + "".join(f"{round(c + (255 - c) * share):02x}" for c in rgb)


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def weeks_axis(groups: list[Group]) -> list[str]:
    """ISO weeks (`2026-W07`) from the first week with a user grade to the last, every week
    in between included, at most the last `MAX_WEEKS`."""
    seen = [week for group in groups for week, (n, _) in group.weekly.items() if n]
    if not seen:
        return []
    first, last = (_monday(week) for week in (min(seen), max(seen)))
    first = max(first, last - timedelta(weeks=MAX_WEEKS - 1))
    axis = []
    day = first
    while day <= last:
        year, number, _ = day.isocalendar()
        axis.append(f"{year}-W{number:02d}")
        day += timedelta(weeks=1)
    return axis


def _monday(week: str) -> date:
    year, number = week.split("-W")
    return date.fromisocalendar(int(year), int(number), 1)


def chart_data(report: Report) -> dict[str, Any]:
    """What the page's charts draw: the first `MAX_CHART_ROWS` groups by rank."""
    shown = report.groups[:MAX_CHART_ROWS]
    weeks = weeks_axis(shown)
    trend = [g for g in shown if any(n for n, _ in g.weekly.values())][:TREND_LINES]
    fit = report.ranking.fit
    rows = []
    for index, group in enumerate(shown):
        colour = PALETTE[index % len(PALETTE)]
        row: dict[str, Any] = {
            "label": printable(group.label),
            "lines": label_lines(group, report.query.by),
            "rank": group.rank,
            "colour": colour,
            "light": lighter(colour),
            "chosen": group is report.choice,
            "eligible": group.eligible,
            "score": _round(group.score),
            "low": None if group.interval is None else _round(group.interval[0]),
            "high": None if group.interval is None else _round(group.interval[1]),
            "p_best": _round(group.p_best, 4),
            "user_graded": group.user_graded,
            "commits": group.commits,
            "mix": [group.mix.get(name, 0) for name in events.GRADE_NAMES_ORDER],
        }
        if group in trend:
            cells = [group.weekly.get(week, (0, 0)) for week in weeks]
            row["weekly"] = [_round(total / n) if n else None for n, total in cells]
            row["weekly_n"] = [n for n, _ in cells]
        rows.append(row)
    return {
        "by": report.query.by,
        "groups": rows,
        "more_groups": max(0, len(report.groups) - len(shown)),
        "weeks": weeks,
        "min_user_graded": MIN_USER_GRADED,
        "overall_mean": None if fit is None else _round(fit.mean),
        "grades": list(events.GRADE_NAMES_ORDER),
        "grade_colours": [MIX_COLOURS[name] for name in events.GRADE_NAMES_ORDER],
    }


def label_lines(group: Group, by: str) -> list[str]:
    """A group's name on a chart's axis: a setup as `agent (harness)` over its model, as the
    narrow table shows it; each line clipped to `MAX_LABEL_LINE` characters."""
    if by == "setup" and group.agent is not None and group.model is not None:
        head = group.agent
        if group.harness not in (None, events.UNKNOWN):
            head += f" ({group.harness})"
        lines = [head, group.model]
    else:
        lines = [group.label]
    return [_clip(printable(line)) for line in lines]


def _clip(line: str) -> str:
    return line if len(line) <= MAX_LABEL_LINE else line[: MAX_LABEL_LINE - 1] + "\u2026"


def write(report: Report, out: TextIO) -> None:
    """The page to `out`, in UTF-8 as its `<meta charset>` says, whatever the locale."""
    page_text = page(report)
    binary = getattr(out, "buffer", None)
    if binary is None:  # a text-only stream (StringIO)
        out.write(page_text)
        return
    out.flush()
    binary.write(page_text.encode("utf-8"))
    binary.flush()


def chart_js() -> str:
    return CHART_JS.read_text(encoding="utf-8")


def page(report: Report) -> str:
    """The whole page (see the module docstring)."""
    scripts: list[str] = []
    if report.groups:
        scripts = [
            (ASSETS / "errors.js").read_text(encoding="utf-8"),
            chart_js(),
            (ASSETS / "report.js").read_text(encoding="utf-8"),
        ]
        body = _body(report)
    else:  # nothing to draw: what to do first
        body = "\n".join([htmlsections.header(report), htmlsections.empty(report), "</main>"])
    for script in scripts:
        # Our own files and the vendored one: a check that they stay embeddable as they are.
        if "</script" in script.lower() or "<!--" in script:
            raise ValueError("an inline script must not contain '</script' or '<!--'")
    style = (ASSETS / "report.css").read_text(encoding="utf-8")
    payload = script_json(chart_data(report))
    policy = "; ".join(
        [
            "default-src 'none'",
            "script-src " + (" ".join(_hash(s) for s in scripts) or "'none'"),
            f"style-src {_hash(style)}",
            "base-uri 'none'",
            "form-action 'none'",
        ]
    )
    title = f"agent-tracker report by {text(report.query.by)}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{title}</title>",
        f"<style>{style}</style>",
        "</head>",
        "<body>",
        body,
        f'<script type="application/json" id="report-data">{payload}</script>',
        *(f"<script>{script}</script>" for script in scripts),
        "</body>",
        "</html>",
        "",
    ]
    return "\n".join(parts)


def _body(report: Report) -> str:
    data = report.as_dict()  # coverage and method as the JSON states them
    return "\n".join(
        [
            htmlsections.header(report),
            htmlsections.recommendation(report),
            htmlsections.charts(report),
            htmlsections.evidence(report, data),
            htmlsections.table(report),
            '<div id="errors" class="errors" hidden><p>Something went wrong while drawing the '
            "charts (the figures above and below are complete):</p><ul></ul></div>",
            f"<footer>agent-tracker {text(__version__)}; charts drawn by Chart.js "
            f"{CHART_JS_VERSION} (MIT licence), embedded in this page.</footer>",
        ]
    )


def _hash(source: str) -> str:
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"
