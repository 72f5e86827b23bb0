"""What the report recommends, from the evidence model's fit (`model`).

Rules (the README says the same in plain words):
- Evidence is the person's grades only. Groups with at least one user-graded commit are
  fitted and get a score (expected user grade on an average project), a 95 % interval and
  P(best) (shared among them: they sum to 1). Other groups get none; one with agent grades
  only says so.
- *Eligible* groups have at least `MIN_USER_GRADED` user-graded commits and nothing
  `unknown` in what their label names (harness, agent and model for a setup). The
  recommendation is the eligible group with the highest score; its expected loss is
  E[max score among the eligible] - its score.
- Expected loss below `LOSS_TIE`: "practically tied" when the runner-up still has at least a
  `CLEAR` chance to be better, else "clearly ahead"; otherwise "about N more user-graded
  commits each would separate them" (N: until the loss of choosing between the two would
  drop below `LOSS_TIE`, their means staying as they are).
- Worth trying: fewer than `MIN_USER_GRADED` user grades, nothing unknown, P(best) >=
  `WORTH_TRYING`; named with the commits still to grade, never the recommendation.
- Order: eligible groups by score, then the other fitted groups by score, then the rest by
  XP; ties go to more user-graded commits, then to the label. Input order never matters.
- Hints per group: self-grade inflation, agent grades only, unknown parts, worth trying,
  drift (the project-adjusted user mean of the last `RECENT_DAYS` differs from the score by
  more than 1.96 standard errors of both, over at least `MIN_USER_GRADED` recent grades) and
  little project overlap between the choice and the runner-up (under `MIN_OVERLAP` of either
  one's grades in shared projects: the adjustment between them then rests on the prior).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from agent_tracker import events
from agent_tracker.ranking import model
from agent_tracker.ranking.group import MIN_USER_GRADED, Group
from agent_tracker.words import plural

LOSS_TIE = 0.05
CLEAR = 0.05
WORTH_TRYING = 0.15
Z95 = 1.96
RECENT_DAYS = 90
MIN_OVERLAP = 0.2
_KNOWN_PARTS = {
    "setup": ("harness", "agent", "model"),
    "agent": ("agent",),
    "model": ("model",),
    "harness": ("harness",),
}


@dataclass
class Ranking:
    """The ranked groups, the evidence overall, and what to recommend."""

    groups: list[Group]
    overall_graded: int  # commits graded by anyone (the communication score's)
    overall_mean: float | None  # communication score per graded commit
    user_graded: int = 0
    fit: model.Fit | None = None
    choice: Group | None = None
    runner_up: Group | None = None
    expected_loss: float | None = None
    tied: bool = False
    more_each: int | None = None  # more user-graded commits each to separate the top two
    worth_trying: list[Group] = field(default_factory=list)
    recommendation: str = ""
    fitted: int = 0  # groups with a user grade
    fit_best: float | None = None  # E[max score] among them


def known(group: Group, by: str) -> bool:
    """Whether every part the label names is known (`unknown` is never recommended)."""
    return all(
        getattr(group, part) not in (None, events.UNKNOWN) for part in _KNOWN_PARTS.get(by, ())
    )


def rank(groups: list[Group], by: str, top: int | None = None) -> Ranking:
    """Fit, order, decide and explain (see the module docstring); `top` cuts the list after
    the decision, so that the runner-up may lie below the cut."""
    graded = sum(g.graded_commits for g in groups)
    total = sum(g.communication_score for g in groups)
    ranking = Ranking(groups, graded, total / graded if graded else None)
    ranking.user_graded = sum(g.user_graded for g in groups)
    groups.sort(key=lambda g: g.label)
    fitted = [g for g in groups if g.user_graded]
    _fit(ranking, fitted, crossed=by != "project")
    for group in fitted:
        group.eligible = group.user_graded >= MIN_USER_GRADED and known(group, by)
    eligible = sorted((g for g in fitted if g.eligible), key=_by_score)
    others = sorted((g for g in fitted if not g.eligible), key=_by_score)
    rest = sorted((g for g in groups if not g.user_graded), key=lambda g: (-g.xp, g.label))
    groups[:] = eligible + others + rest
    for position, group in enumerate(groups, start=1):
        group.rank = position
    _decide(ranking, eligible)
    for group in others:
        if (
            group.user_graded < MIN_USER_GRADED
            and known(group, by)
            and (group.p_best or 0.0) >= WORTH_TRYING
        ):
            group.worth_trying = MIN_USER_GRADED - group.user_graded
            ranking.worth_trying.append(group)
    ranking.worth_trying.sort(key=lambda g: (-(g.p_best or 0.0), g.label))
    for group in groups:
        group.hints = _hints(group, by)
    if by != "project" and ranking.choice is not None and ranking.runner_up is not None:
        _overlap(ranking.choice, ranking.runner_up)
    ranking.recommendation = _text(ranking, by)
    if top is not None:
        del groups[top:]
    return ranking


def _by_score(group: Group) -> tuple[float, int, str]:
    return (-(group.score or 0.0), -group.user_graded, group.label)


def _fit(ranking: Ranking, fitted: list[Group], *, crossed: bool) -> None:
    projects = sorted({p for g in fitted for p, cell in g.user_cells.items() if cell[0]})
    index = {project: i for i, project in enumerate(projects)}
    cells: list[model.Cell] = [
        (gi, index[p], cell[0], cell[1], cell[2])
        for gi, group in enumerate(fitted)
        for p, cell in sorted(group.user_cells.items())
        if cell[0]
    ]
    fit = ranking.fit = model.fit(cells, len(fitted), len(projects), crossed=crossed)
    if fit is None:
        return
    for i, group in enumerate(fitted):
        group.score, group.variance = fit.scores[i], fit.variances[i]
        group.contrast = fit.contrasts[i]
        half = Z95 * math.sqrt(group.variance)
        group.interval = (group.score - half, group.score + half)
        recent = sum(cell[3] for cell in group.user_cells.values())
        if MIN_USER_GRADED <= recent < group.user_graded:
            residual = sum(
                cell[4] - cell[3] * (fit.mean + fit.project_effects[index[p]])
                for p, cell in group.user_cells.items()
            )
            group.recent_mean = fit.mean + residual / recent
    chances, ranking.fit_best = model.odds([g.score or 0.0 for g in fitted], _sds(fitted))
    ranking.fitted = len(fitted)
    for group, chance in zip(fitted, chances, strict=True):
        group.p_best = chance


def _sds(groups: list[Group]) -> list[float]:
    return [math.sqrt(g.contrast or 0.0) for g in groups]


def _decide(ranking: Ranking, eligible: list[Group]) -> None:
    if not eligible or ranking.fit is None:
        return
    choice = ranking.choice = eligible[0]
    if len(eligible) == 1:
        ranking.expected_loss = 0.0
        return
    runner = ranking.runner_up = eligible[1]
    a, b = choice.score or 0.0, runner.score or 0.0
    va, vb = choice.contrast or 0.0, runner.contrast or 0.0
    if ranking.fit_best is not None and len(eligible) == ranking.fitted:
        best = ranking.fit_best  # the same candidates: no second quadrature
    else:
        _, best = model.odds([g.score or 0.0 for g in eligible], _sds(eligible))
    loss = ranking.expected_loss = max(0.0, best - a)
    if loss < LOSS_TIE:
        ranking.tied = model.normal_cdf(-(a - b) / math.sqrt(va + vb)) >= CLEAR
    else:
        more = model.commits_to_settle(a - b, va, vb, ranking.fit.residual, LOSS_TIE)
        ranking.more_each = None if more is None else max(more, 1)


def _hints(group: Group, by: str) -> list[str]:
    hints = []
    if not group.user_graded and group.agent_graded:
        hints.append(
            f"agent grades only ({plural(group.agent_graded, 'commit')}): no user grade yet, "
            "so no score"
        )
    if group.inflated and group.inflation is not None:
        hints.append(
            f"its agent grades itself {group.inflation:+.1f} above you on average "
            f"(over {plural(group.both_graded, 'commit')} graded by both)"
        )
    if group.user_graded and not known(group, by):
        hints.append(
            "never recommended: not attributed to a known " + " and ".join(_KNOWN_PARTS[by])
        )
    if group.worth_trying is not None:
        hints.append(f"worth trying: grade {plural(group.worth_trying, 'more of its commits', '')}")
    if group.recent_mean is not None and group.score is not None:
        recent = sum(cell[3] for cell in group.user_cells.values())
        spread = math.sqrt((group.variance or 0.0) + _residual_of(group) / recent)
        if abs(group.recent_mean - group.score) > Z95 * spread:
            direction = "up" if group.recent_mean > group.score else "down"
            hints.append(
                f"drift {direction}: {group.recent_mean:+.1f} over the last {RECENT_DAYS} days "
                f"({plural(recent, 'user grade')}) against {group.score:+.1f} overall"
            )
    return hints


def _residual_of(group: Group) -> float:
    """The group's own spread of user grades (at least `model.MIN_VARIANCE`)."""
    n = group.user_graded
    if n < 2:
        return model.PRIOR_RESIDUAL
    return max((group.user_sq - group.user_sum**2 / n) / (n - 1), model.MIN_VARIANCE)


def _overlap(first: Group, second: Group) -> None:
    shared = {p for p, c in first.user_cells.items() if c[0]} & {
        p for p, c in second.user_cells.items() if c[0]
    }
    shares = [
        sum(group.user_cells[p][0] for p in shared) / group.user_graded for group in (first, second)
    ]
    if min(shares) >= MIN_OVERLAP:
        return
    for group, other in ((first, second), (second, first)):
        group.hints.append(
            f"little project overlap with {other.label} "
            f"({plural(len(shared), 'shared project')}): the project adjustment between "
            "them rests on the prior"
        )


def _text(ranking: Ranking, what: str) -> str:
    choice = ranking.choice
    if choice is None or choice.score is None or choice.interval is None:
        parts = _KNOWN_PARTS.get(what)
        named = f" with a known {', '.join(parts)}" if parts else ""
        text = (
            f"Not enough evidence yet: {plural(ranking.user_graded, 'user-graded commit')} so "
            f"far, and no {what}{named} has {MIN_USER_GRADED}. Grade commits as you go "
            "(`agent-tracker grade good --by user`), then look again."
        )
        return text + _worth_text(ranking)
    low, high = choice.interval
    lead = f"Use {choice.label}" if what == "setup" else f"Best {what}: {choice.label}"
    text = (
        f"{lead}: expected user grade {choice.score:+.1f} on an average project (95% interval "
        f"{low:+.1f} to {high:+.1f}), from {plural(choice.user_graded, 'user-graded commit')} "
        f"in {plural(choice.user_projects, 'project')}; P(best) {choice.p_best or 0:.0%}."
    )
    runner, loss = ranking.runner_up, ranking.expected_loss or 0.0
    if runner is not None and runner.score is not None:
        text += f" Runner-up: {runner.label} at {runner.score:+.1f}."
        if ranking.tied:
            text += (
                f" Practically tied: choosing either costs less than {LOSS_TIE} of a grade "
                f"(expected loss {loss:.2f})."
            )
        elif loss < LOSS_TIE:
            text += f" Clearly ahead (expected loss {loss:.2f})."
        elif ranking.more_each is None:
            text += f" Expected loss {loss:.2f}: they may well be equal."
        else:
            text += (
                f" Expected loss {loss:.2f}: about {ranking.more_each} more user-graded "
                "commits each would separate them."
            )
    return text + _worth_text(ranking)


def _worth_text(ranking: Ranking) -> str:
    if not ranking.worth_trying:
        return ""
    named = "; ".join(
        f"{g.label} (P(best) {g.p_best or 0:.0%}, grade {g.worth_trying} more of its commits)"
        for g in ranking.worth_trying
    )
    return f" Worth trying: {named}."
