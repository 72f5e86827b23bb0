"""The HTML report's text: the sections of the page `reporthtml` assembles.

Every name and figure goes into the HTML through `text()`: control and bidi characters shown
as escapes (as the terminal shows them, `errors.printable`), then HTML-escaped, quotes
included. `breakable()` adds only `<wbr>` after `/` and `@`, which HTML escaping never
produces inside an entity. The page reads whole without its scripts: the charts restate what
the recommendation, the comparison and the table say.
"""

from __future__ import annotations

import html
from typing import Any

from agent_tracker import events
from agent_tracker.errors import printable
from agent_tracker.ranking import LOSS_TIE, MIN_USER_GRADED, Group
from agent_tracker.report import Report
from agent_tracker.words import plural

#: Charts show the first this many groups by rank (tall enough already); the table has all.
MAX_CHART_ROWS = 30
#: The weekly trend draws this many groups (the first by rank with a user grade)...
TREND_LINES = 8


def text(value: object) -> str:
    """`value` as HTML text: control characters escaped as everywhere else, then HTML."""
    return html.escape(printable(str(value)), quote=True)


def breakable(name: str) -> str:
    """`name` as HTML text that may wrap after `/` and `@` (never inside a word)."""
    return text(name).replace("/", "/<wbr>").replace("@", "@<wbr>")


def _headline(what: str) -> str:
    if what == "project":  # projects are ranked, not chosen
        return "Your projects, ranked by your grades"
    return f"Which {what} to use next"


def header(report: Report) -> str:
    what = report.query.by
    pending = report.pending_text
    filters = [
        f"{name} {value}"
        for name in ("project", "agent", "model", "harness", "language")
        if (value := getattr(report.query, name)) is not None
    ]
    facts = [f"by {what}", report.window + " (UTC days)", *filters, pending]
    facts.append(f"generated {report.generated_at}")
    lines = [
        "<main>",
        "<header>",
        f"<h1>{text(_headline(what))}</h1>",
        f'<p class="meta">{text("; ".join(facts))}</p>',
        "</header>",
    ]
    if report.warnings:
        lines.append('<ul class="warnings">')
        lines += [f"<li>warning: {text(warning)}</li>" for warning in report.warnings]
        lines.append("</ul>")
    return "\n".join(lines)


def empty(report: Report) -> str:
    if report.database_exists or report.pending_events:
        return '<p id="recommendation">Nothing matches these filters.</p>'
    return (
        '<p id="recommendation">No agent activity recorded yet. Start with '
        "<code>agent-tracker hooks install</code> in a repository, let your agents call "
        "<code>agent-tracker track tool NAME</code>, grade commits with "
        "<code>agent-tracker grade</code>, then <code>git push</code> (or "
        "<code>agent-tracker flush</code>).</p>"
    )


def recommendation(report: Report) -> str:
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


def charts(report: Report) -> str:
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


def evidence(report: Report, data: dict[str, Any]) -> str:
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
        f"{plural(coverage['commits'], 'commit')}, {overall['user_graded']} graded by you, "
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
    if loss < LOSS_TIE:
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
    head = "".join(f'<th scope="col">{breakable(g.label)}</th>' for g in groups)
    lines = [f'<table class="compare"><thead><tr><th></th>{head}</tr></thead><tbody>']
    for name, cells in rows:
        lines.append(
            f'<tr><th scope="row">{text(name)}</th>'
            + "".join(f"<td>{text(cell)}</td>" for cell in cells)
            + "</tr>"
        )
    lines.append("</tbody></table>")
    return "".join(lines)


def table(report: Report) -> str:
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
                f'<th scope="row">{breakable(c)}</th>' if i == 1 else f"<td>{text(c)}</td>"
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
