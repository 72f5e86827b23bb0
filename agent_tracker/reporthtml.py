"""`report --format html`: the report as one self-contained web page with charts.

The page holds everything it needs inline: the figures (from the same `Report` the table and
JSON show), Chart.js (vendored unmodified in `assets/vendor/chartjs`, see the README there)
and our own script and style sheet (`assets/report.js`, `assets/report.css`). Its
Content-Security-Policy allows exactly those inline scripts and that style sheet (by hash)
and nothing from anywhere else, so the page never touches the network, and a name that got
past the escaping still could not run anything.

Escaping, the page's one invariant: every name written into the HTML goes through `text()`
(control and bidi characters shown as escapes, as the terminal shows them, then
HTML-escaped); the figures the charts draw travel as JSON in a `<script
type="application/json">` block where `<`, `>`, `&` and U+2028/U+2029 are `\\u` escapes, so
no `</script>` or `<!--` inside a name can end or change the block; and the page's script
hands names only to Chart.js (which draws them on canvases) or to `textContent`.

This module and its assets are loaded only when html is asked for (`cli_fast.show`).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TextIO

from agent_tracker import __version__, events
from agent_tracker.errors import printable
from agent_tracker.ranking import MIN_USER_GRADED, Group
from agent_tracker.report import Report

ASSETS = Path(__file__).resolve().parent / "assets"
CHART_JS = ASSETS / "vendor" / "chartjs" / "chart.umd.min.js"
CHART_JS_VERSION = "4.6.1"
#: The vendored file's checksum (the same as in its README; tests/test_html.py checks both).
CHART_JS_SHA256 = "87364cc2b2a76a6684929e7d6b80b18a897794db38400caff1fcf1791c6925d2"
#: Charts show the first this many groups by rank (tall enough already); the table has all.
MAX_CHART_ROWS = 30
#: The weekly trend draws this many groups (the first by rank with a user grade)...
TREND_LINES = 8
#: ... over at most this many weeks, up to the last week with a user grade.
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


def text(value: object) -> str:
    """`value` as HTML text: control characters escaped as everywhere else, then HTML."""
    return html.escape(printable(str(value)), quote=True)


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


def _breakable(name: str) -> str:
    """`name` as HTML text that may wrap after `/` and `@` (never inside a word)."""
    return text(name).replace("/", "/<wbr>").replace("@", "@<wbr>")


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
    data = report.as_dict()
    scripts = [
        (ASSETS / "errors.js").read_text(encoding="utf-8"),
        chart_js(),
        (ASSETS / "report.js").read_text(encoding="utf-8"),
    ]
    style = (ASSETS / "report.css").read_text(encoding="utf-8")
    for script in scripts:
        # Our own files and the vendored one: a check that they stay embeddable as they are.
        if "</script" in script.lower() or "<!--" in script:
            raise ValueError("an inline script must not contain '</script' or '<!--'")
    if not report.groups:
        body = "\n".join([_header(report), _empty(report), "</main>"])
    else:
        body = _body(report, data)
    payload = script_json(chart_data(report))
    policy = "; ".join(
        [
            "default-src 'none'",
            "script-src " + " ".join(_hash(s) for s in scripts),
            f"style-src {_hash(style)}",
            "img-src data:",
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
        *(f"<script>{script}</script>" for script in scripts if report.groups),
        "</body>",
        "</html>",
        "",
    ]
    return "\n".join(parts)


def _body(report: Report, data: dict[str, Any]) -> str:
    return "\n".join(
        [
            _header(report),
            _recommendation(report),
            _charts(report),
            _evidence(report, data),
            _table(report),
            '<div id="errors" class="errors" hidden><p>Something went wrong while drawing the '
            "charts (the figures above and below are complete):</p><ul></ul></div>",
            f"<footer>agent-tracker {text(__version__)}; charts drawn by Chart.js "
            f"{CHART_JS_VERSION} (MIT licence), embedded in this page.</footer>",
        ]
    )


def _hash(source: str) -> str:
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def _window(report: Report) -> str:
    if report.since and report.until:
        return f"{report.since} to {report.until}"
    if report.since:
        return f"since {report.since}"
    if report.until:
        return f"until {report.until}"
    return "all time"


def _header(report: Report) -> str:
    what = report.query.by
    pending = (
        f"{report.pending_events} pending events included"
        if report.query.include_pending
        else f"{report.pending_events} pending events left out (--flushed-only)"
    )
    filters = [
        f"{name} {value}"
        for name in ("project", "agent", "model", "harness", "language")
        if (value := getattr(report.query, name)) is not None
    ]
    facts = [f"by {what}", _window(report) + " (UTC days)", *filters, pending]
    facts.append(f"generated {report.generated_at}")
    lines = [
        "<main>",
        "<header>",
        f"<h1>Which {text(what)} to use next</h1>",
        f'<p class="meta">{text("; ".join(facts))}</p>',
        "</header>",
    ]
    if report.warnings:
        lines.append('<ul class="warnings">')
        lines += [f"<li>warning: {text(warning)}</li>" for warning in report.warnings]
        lines.append("</ul>")
    return "\n".join(lines)


def _empty(report: Report) -> str:
    if report.database_exists or report.pending_events:
        return '<p id="recommendation">Nothing matches these filters.</p>'
    return (
        '<p id="recommendation">No agent activity recorded yet. Start with '
        "<code>agent-tracker hooks install</code> in a repository, let your agents call "
        "<code>agent-tracker track tool NAME</code>, grade commits with "
        "<code>agent-tracker grade</code>, then <code>git push</code> (or "
        "<code>agent-tracker flush</code>).</p>"
    )


def _recommendation(report: Report) -> str:
    kind = "chosen" if report.choice is not None else "open"
    return (
        f'<section id="recommendation" class="{kind}"><h2>Recommendation</h2>'
        f"<p>{text(report.recommendation)}</p></section>"
    )


def _figure(name: str, title: str, caption: str, rows: int) -> str:
    return (
        f'<figure id="{name}"><h3>{text(title)}</h3>'
        f'<div class="chart" data-rows="{rows}"><canvas id="chart-{name}" role="img" '
        f'aria-label="{text(title)}"></canvas></div>'
        f"<figcaption>{text(caption)}</figcaption></figure>"
    )


def _charts(report: Report) -> str:
    shown = report.groups[:MAX_CHART_ROWS]
    what = report.query.by
    fitted = sum(1 for g in shown if g.score is not None)
    graded = sum(1 for g in shown if g.grades)
    more = len(report.groups) - len(shown)
    cut = f" The first {len(shown)} by rank; the table below lists all." if more else ""
    parts = ['<section id="charts"><h2>Charts</h2>']
    if fitted:
        parts.append(
            _figure(
                "score",
                "Expected user grade on an average project, with its 95% interval",
                f"Each {what}'s score (diamond) and 95% interval (bar), from your grades only, "
                "adjusted for how hard each project is; bad -1, neutral +1, good +2, "
                "excellence +5. The dashed line is the overall mean; the recommendation has "
                f"a dark outline.{cut}",
                fitted,
            )
        )
        parts.append(
            _figure(
                "pbest",
                "P(best): the chance to be truly the best",
                f"Shared among the {what}s you graded: they add up to 100%.{cut}",
                fitted,
            )
        )
    else:
        parts.append(
            '<p class="none">No user grades yet: no scores, intervals or P(best) to draw. '
            "Grade commits with <code>agent-tracker grade good --by user</code>.</p>"
        )
    trend = sum(1 for g in shown if any(n for n, _ in g.weekly.values()))
    if trend:
        parts.append(
            _figure(
                "trend",
                "Your mean grade per week",
                f"The first {min(trend, TREND_LINES)} {what}s by rank with a user grade; a "
                "point's size grows with the commits you graded that week (UTC, ISO weeks), "
                "weeks without a grade are bridged.",
                TREND_LINES,
            )
        )
    if graded:
        parts.append(
            _figure(
                "mix",
                "Grade mix",
                "Every grade given, yours and the agents' (the agents' grades are shown, "
                f"never counted as evidence), as shares of each {what}'s grades.{cut}",
                graded,
            )
        )
    parts.append("</section>")
    return "\n".join(parts)


def _evidence(report: Report, data: dict[str, Any]) -> str:
    what = report.query.by
    parts = ['<section id="evidence"><h2>The evidence behind it</h2>']
    compared = [g for g in (report.choice, report.runner_up) if g is not None]
    compared += [g for g in report.ranking.worth_trying if g not in compared]
    if compared:
        parts.append(_comparison(compared, report))
    verdict = _verdict(report)
    if verdict:
        parts.append(f'<p class="verdict">{text(verdict)}</p>')
    parts.append(
        _figure(
            "evidence",
            "Your graded commits",
            f"Only your grades count. A {what} can be recommended from {MIN_USER_GRADED} "
            f"user-graded commits on (dashed line; lighter bars have fewer) with nothing "
            "unknown in its name.",
            min(len(report.groups), MAX_CHART_ROWS),
        )
    )
    coverage = data["coverage"]
    overall = data["overall"]
    share = coverage["attributed_share"]
    sources = ", ".join(f"{k} {v}" for k, v in coverage["by_source"].items() if v) or "none"
    facts = [
        f"{coverage['commits']} commits, {overall['user_graded']} graded by you, "
        f"{overall['graded_commits']} by anyone",
        "attributed to a setup: "
        + ("-" if share is None else f"{share:.0%}")
        + f" (how each commit's setup was decided: {sources})",
        f"{report.pending_events} events still in the journal "
        + ("included" if report.query.include_pending else "left out"),
    ]
    parts.append('<ul class="coverage">' + "".join(f"<li>{text(f)}</li>" for f in facts) + "</ul>")
    hints = [(g.label, hint) for g in report.groups for hint in g.hints]
    if hints:
        parts.append('<h3>Notes</h3><ul class="hints">')
        parts += [f"<li><b>{text(label)}</b>: {text(hint)}</li>" for label, hint in hints]
        parts.append("</ul>")
    method = data["method"]
    parts.append("<details><summary>Method</summary><dl>")
    parts += [
        f"<dt>{text(key.replace('_', ' '))}</dt><dd>{text('-' if value is None else value)}</dd>"
        for key, value in method.items()
    ]
    parts.append("</dl></details></section>")
    return "\n".join(parts)


def _verdict(report: Report) -> str:
    ranking = report.ranking
    if report.choice is None:
        return ""
    loss = ranking.expected_loss or 0.0
    if report.runner_up is None:
        return "The only one with enough of your grades to be recommended."
    if ranking.tied:
        return f"Practically tied with the runner-up (expected loss {loss:.2f} of a grade)."
    if ranking.more_each is not None:
        return (
            f"Expected loss {loss:.2f} of a grade: about {ranking.more_each} more user-graded "
            "commits each would separate the two."
        )
    if loss < 0.05:
        return f"Clearly ahead of the runner-up (expected loss {loss:.2f})."
    return f"Expected loss {loss:.2f}: they may well be equal."


def _fmt(value: float | None, sign: bool = True) -> str:
    if value is None:
        return "-"
    return f"{value:+.1f}" if sign else f"{value:.1f}"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _interval(group: Group) -> str:
    if group.interval is None:
        return "-"
    return f"{group.interval[0]:+.1f} to {group.interval[1]:+.1f}"


def _comparison(groups: list[Group], report: Report) -> str:
    def role(group: Group) -> str:
        if group is report.choice:
            return "recommended"
        if group is report.runner_up:
            return "runner-up"
        return "worth trying"

    rows = [
        ("", [role(g) for g in groups]),
        ("expected user grade", [_fmt(g.score) for g in groups]),
        ("95% interval", [_interval(g) for g in groups]),
        ("P(best)", [_share(g.p_best) for g in groups]),
        ("user-graded commits", [str(g.user_graded) for g in groups]),
        ("projects you graded in", [str(g.user_projects) for g in groups]),
        ("your raw mean grade", [_fmt(g.user_mean) for g in groups]),
        ("the agent's own mean grade", [_fmt(g.agent_mean) for g in groups]),
        (
            "it grades itself above you by",
            [_fmt(g.inflation) + (" (inflated)" if g.inflated else "") for g in groups],
        ),
        ("reverted", [_share(g.revert_rate) for g in groups]),
    ]
    head = "".join(f'<th scope="col">{_breakable(g.label)}</th>' for g in groups)
    lines = [f'<table class="compare"><thead><tr><th></th>{head}</tr></thead><tbody>']
    for name, cells in rows:
        lines.append(
            f'<tr><th scope="row">{text(name)}</th>'
            + "".join(f"<td>{text(cell)}</td>" for cell in cells)
            + "</tr>"
        )
    lines.append("</tbody></table>")
    return "".join(lines)


def _table(report: Report) -> str:
    what = report.query.by
    columns = (
        "#",
        what,
        "user graded / commits",
        "score",
        "95% interval",
        "P(best)",
        "agent self",
        "bad / neutral / good / excellence",
        "reverted",
        "XP",
        "last active",
    )
    lines = [
        f'<section id="groups"><h2>All {text(what)}s</h2><table class="groups"><thead><tr>',
        "".join(f'<th scope="col">{text(c)}</th>' for c in columns),
        "</tr></thead><tbody>",
    ]
    for group in report.groups:
        flag = "*" if group.too_little_data else ""
        cells = (
            str(group.rank),
            group.label,
            f"{group.user_graded}/{group.commits}{flag}",
            _fmt(group.score),
            _interval(group),
            _share(group.p_best),
            _fmt(group.agent_mean) + ("!" if group.inflated else ""),
            " / ".join(str(group.mix.get(n, 0)) for n in events.GRADE_NAMES_ORDER),
            _share(group.revert_rate),
            f"{group.xp:,}",
            group.last_active or "-",
        )
        kind = ' class="dim"' if not group.eligible else ""
        lines.append(
            f"<tr{kind}>"
            + "".join(
                f'<th scope="row">{_breakable(c)}</th>' if i == 1 else f"<td>{text(c)}</td>"
                for i, c in enumerate(cells)
            )
            + "</tr>"
        )
    lines.append("</tbody></table>")
    lines.append(
        f'<p class="legend">score: expected user grade on an average project; agent self: the '
        f"agent's mean grade of its own commits (! inflated); * fewer than {MIN_USER_GRADED} "
        "user-graded commits; dimmed rows cannot be recommended.</p></section></main>"
    )
    return "\n".join(lines)
