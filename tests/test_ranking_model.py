"""The evidence model and the recommendation rules on hand-built day cells with known answers.

Groups are built from day cells shaped like those `totals.day_record` writes (scoring
version 2: per-party sums), so these tests do not depend on the write path.
"""

from __future__ import annotations

import math
from random import Random

import pytest

from agent_tracker import events
from agent_tracker.ranking import Group, rank
from agent_tracker.ranking.model import commits_to_settle, fit, odds, pair_loss

DAY = "2026-06-01"
GOOD = ("opencode", "build", "anthropic/claude-sonnet-4-5")
PLAN = ("claude-code", "plan", "anthropic/claude-sonnet-4-5")
CODEX = ("codex", "default", "openai/gpt-5")
SELF = ("opencode", "fast", "some/model")
UNKNOWN = ("unknown", "unknown", "unknown")


def cell(
    setup: tuple[str, str, str],
    project: str = "github.com/me/app",
    user: list[int] | tuple[int, ...] = (),
    agent: list[int] | tuple[int, ...] = (),
    *,
    day: str = DAY,
    reverted: int = 0,
) -> dict[str, object]:
    """A day cell of commits: commit i gets user[i] and agent[i] where those exist."""
    commits = max(len(user), len(agent))
    both = min(len(user), len(agent))
    per_commit = [
        [user[i] if i < len(user) else None, agent[i] if i < len(agent) else None]
        for i in range(commits)
    ]
    graded = [[g for g in grades if g is not None] for grades in per_commit]
    mix = {str(value): 0 for value in events.GRADE_VALUES}
    for grades in graded:
        for grade in grades:
            mix[str(grade)] += 1
    harness, agent_name, model = setup
    return {
        "harness": harness,
        "agent": agent_name,
        "model": model,
        "project": project,
        "day": day,
        "instructions": None,
        "commits": commits,
        "sources": {"flag": commits},
        "graded_commits": sum(1 for g in graded if g),
        "score": sum(sum(g) for g in graded),
        "score_sq": sum(sum(g) ** 2 for g in graded),
        "grades": sum(len(g) for g in graded),
        "mix": mix,
        "user_graded": len(user),
        "user_sum": sum(user),
        "user_sq": sum(g * g for g in user),
        "agent_graded": len(agent),
        "agent_sum": sum(agent),
        "agent_sq": sum(g * g for g in agent),
        "both_graded": both,
        "both_diff_sum": sum(agent[i] - user[i] for i in range(both)),
        "both_diff_sq": sum((agent[i] - user[i]) ** 2 for i in range(both)),
        "reverted": reverted,
    }


def groups_of(cells: list[dict[str, object]], recent_from: str | None = None) -> list[Group]:
    groups: dict[str, Group] = {}
    for c in cells:
        label = f"{c['agent']}@{c['model']} ({c['harness']})"
        if label not in groups:
            groups[label] = Group(
                label=label, harness=str(c["harness"]), agent=str(c["agent"]), model=str(c["model"])
            )
        groups[label].add(c, recent_from)
    return list(groups.values())


def by_agent(groups: list[Group]) -> dict[str, Group]:
    return {str(g.agent): g for g in groups}


def repeat(pattern: list[int], count: int) -> list[int]:
    return (pattern * count)[:count]


# -- the model --------------------------------------------------------------------------------


def test_with_plenty_of_data_on_one_project_scores_are_close_to_the_raw_means() -> None:
    a = [2.0] * 200
    b = [1.0, 5.0] * 100  # mean 3
    cells = [(0, 0, 200, sum(a), sum(x * x for x in a)), (1, 0, 200, sum(b), sum(x * x for x in b))]
    result = fit(cells, 2, 1)
    assert result is not None
    assert result.scores[0] == pytest.approx(2.0, abs=0.05)
    assert result.scores[1] == pytest.approx(3.0, abs=0.05)
    assert result.scores[0] > 2.0  # both pulled toward the overall mean, 2.5
    assert result.scores[1] < 3.0
    assert result.residual == pytest.approx((200 * 4 + 4 * 4.0) / (398 + 4), rel=1e-9)
    # One project: how hard an average project is stays open (the variances), what sets
    # the two apart does not (the contrasts).
    assert all(v > result.between_projects for v in result.variances)  # type: ignore[operator]
    assert all(0 < c < 0.05 for c in result.contrasts)


def test_no_grades_no_fit() -> None:
    assert fit([], 2, 1) is None
    assert fit([(0, 0, 0, 0, 0)], 1, 1) is None


def test_p_best_sums_to_one_and_follows_the_means() -> None:
    for means, sds in (
        ([1.0, 2.0, 3.0], [0.5, 0.5, 0.5]),
        ([2.0, 2.0], [0.1, 0.3]),
        ([0.0, 10.0, 0.5, 0.2], [1.0, 0.01, 2.0, 0.3]),
        ([1.0] * 7, [0.2] * 7),
    ):
        chances, best = odds(means, sds)
        assert sum(chances) == pytest.approx(1.0, abs=1e-12)
        assert best >= max(means) - 1e-9
    chances, _ = odds([1.0, 2.0, 3.0], [0.5, 0.5, 0.5])
    assert chances[0] < chances[1] < chances[2]
    equal, _ = odds([1.0] * 4, [0.2] * 4)
    assert equal == pytest.approx([0.25] * 4, abs=1e-9)


def test_expected_maximum_of_two_equal_normals_is_known() -> None:
    # E[max(X, Y)] for X, Y ~ N(0, 1) independent is 1/sqrt(pi).
    _, best = odds([0.0, 0.0], [1.0, 1.0])
    assert best == pytest.approx(1 / math.sqrt(math.pi), abs=1e-6)
    assert pair_loss(0.0, 2.0) == pytest.approx(1 / math.sqrt(math.pi), abs=1e-9)


def test_commits_to_settle_grows_as_the_two_get_closer() -> None:
    far = commits_to_settle(0.5, 0.25, 0.25, 3.0, 0.05)
    near = commits_to_settle(0.1, 0.25, 0.25, 3.0, 0.05)
    assert far is not None
    assert near is not None
    assert 0 < far < near
    assert commits_to_settle(2.0, 0.01, 0.01, 3.0, 0.05) == 0


# -- the recommendation -----------------------------------------------------------------------


def three_well_graded(*, extra: list[dict[str, object]] | None = None) -> list[Group]:
    cells = [
        cell(GOOD, user=repeat([2, 2, 5], 100)),  # mean 3
        cell(PLAN, user=repeat([2, 1], 100)),  # 1.5
        cell(CODEX, user=repeat([2], 100)),  # 2
    ]
    return groups_of(cells + (extra or []))


def test_an_agent_only_setup_is_not_recommended_over_well_graded_ones() -> None:
    groups = three_well_graded(extra=[cell(SELF, agent=[5] * 5)])
    ranking = rank(groups, "setup")
    assert ranking.choice is not None
    assert ranking.choice.agent == "build"
    selfish = by_agent(groups)["fast"]
    assert (selfish.score, selfish.p_best, selfish.rank) == (None, None, 4)
    assert selfish.agent_mean == 5
    assert any("agent grades only" in hint for hint in selfish.hints)
    assert sum(g.p_best or 0 for g in groups) == pytest.approx(1.0)


def test_the_project_adjustment_changes_the_winner_of_a_confounded_history() -> None:
    # Project "hard" costs 2 points, "easy" none. GOOD is truly 1 point better than PLAN,
    # but does most of its work on the hard project: its raw mean is lower.
    hard, easy = "github.com/me/hard", "github.com/me/easy"
    cells = [
        cell(GOOD, hard, user=[1] * 40),  # true 3 - 2
        cell(GOOD, easy, user=repeat([1, 5], 10)),  # true 3
        cell(PLAN, easy, user=[2] * 40),  # true 2
        cell(PLAN, hard, user=repeat([-1, 1], 10)),  # true 2 - 2
    ]
    groups = groups_of(cells)
    good, plan = by_agent(groups)["build"], by_agent(groups)["plan"]
    assert good.user_mean is not None
    assert plan.user_mean is not None
    assert good.user_mean < plan.user_mean  # 1.4 against 1.6: a per-setup mean picks PLAN
    ranking = rank(groups, "setup")
    assert ranking.choice is good
    assert good.score is not None
    assert plan.score is not None
    assert good.score - plan.score > 0.5
    assert ranking.fit is not None
    assert ranking.fit.project_effects[0] > ranking.fit.project_effects[1] + 1  # easy, hard
    # The README's worked example quotes these numbers.
    assert (round(good.score, 1), round(plan.score, 1), round(ranking.fit.mean, 1)) == (
        1.9,
        1.1,
        1.5,
    )
    assert [round(b, 2) for b in ranking.fit.project_effects] == [0.95, -0.95]
    assert good.interval is not None
    assert [round(x, 1) for x in good.interval] == [0.8, 3.1]
    assert "Clearly ahead (expected loss 0.00)" in ranking.recommendation


def test_one_great_user_grade_is_worth_trying_never_recommended() -> None:
    groups = three_well_graded(extra=[cell(SELF, user=[5])])
    ranking = rank(groups, "setup")
    lucky = by_agent(groups)["fast"]
    assert ranking.choice is not None
    assert ranking.choice is not lucky
    assert lucky.p_best is not None
    assert lucky.p_best >= 0.15
    assert lucky.worth_trying == 4
    assert ranking.worth_trying == [lucky]
    assert "Worth trying: fast@some/model (opencode)" in ranking.recommendation
    assert "grade 4 more of its commits" in ranking.recommendation
    assert not lucky.eligible


def test_unknown_is_never_recommended() -> None:
    groups = three_well_graded(extra=[cell(UNKNOWN, user=[5] * 60)])
    ranking = rank(groups, "setup")
    unknown = by_agent(groups)["unknown"]
    assert unknown.score is not None
    assert ranking.choice is not None
    assert unknown.score > ranking.choice.score  # type: ignore[operator]
    assert ranking.choice.agent == "build"
    assert not unknown.eligible
    assert unknown.worth_trying is None
    assert any("never recommended" in hint for hint in unknown.hints)
    only_unknown = rank(groups_of([cell(UNKNOWN, user=[5] * 60)]), "setup")
    assert only_unknown.choice is None
    assert only_unknown.recommendation.startswith("Not enough evidence yet")
    harness_unknown = rank(groups_of([cell(("unknown", "build", "m/x"), user=[5] * 9)]), "agent")
    assert harness_unknown.choice is not None  # --by agent: only the agent must be known


def test_a_tie_is_broken_by_the_label_and_shares_p_best() -> None:
    cells = [cell(s, user=repeat([1, 2, 5], 3000)) for s in (PLAN, GOOD)]
    ranking = rank(groups_of(cells), "setup")
    first, second = ranking.groups
    assert first.label < second.label
    assert first.score == second.score
    assert first.p_best == pytest.approx(0.5)
    assert ranking.tied
    assert "Practically tied" in ranking.recommendation


def test_close_far_and_unsettled_pairs() -> None:
    close = rank(
        groups_of(
            [cell(GOOD, user=repeat([2], 3000)), cell(PLAN, user=repeat([2] * 49 + [1], 3000))]
        ),
        "setup",
    )
    assert close.expected_loss is not None
    assert close.expected_loss < 0.05
    assert close.tied
    far = rank(groups_of([cell(GOOD, user=[5] * 300), cell(PLAN, user=[-1] * 300)]), "setup")
    assert far.expected_loss == pytest.approx(0.0, abs=1e-6)
    assert not far.tied
    assert "Clearly ahead" in far.recommendation
    unsettled = rank(
        groups_of(
            [cell(GOOD, user=repeat([2, 2, 5, 1], 8)), cell(PLAN, user=repeat([2, 1, 2, 2], 8))]
        ),
        "setup",
    )
    assert unsettled.expected_loss is not None
    assert unsettled.expected_loss >= 0.05
    assert not unsettled.tied
    assert unsettled.more_each is not None
    assert unsettled.more_each > 0
    assert f"about {unsettled.more_each} more user-graded commits each" in unsettled.recommendation


def test_self_grade_inflation_is_warned_about_from_five_commits_graded_by_both() -> None:
    groups = groups_of(
        [
            cell(GOOD, user=[2] * 6, agent=[5] * 6),  # +3 over 6
            cell(PLAN, user=[2] * 4, agent=[5] * 4),  # +3 over 4 only
            cell(CODEX, user=[2] * 9, agent=[2] * 9),  # honest
        ]
    )
    rank(groups, "setup")
    found = by_agent(groups)
    assert found["build"].inflation == 3
    assert found["build"].inflated
    assert any("grades itself +3.0 above you" in hint for hint in found["build"].hints)
    assert not found["plan"].inflated
    assert found["default"].inflation == 0
    assert not found["default"].inflated
    # Agent grades are shown, never evidence: all three have the same user grades.
    assert found["build"].score == pytest.approx(found["default"].score, abs=0.05)


def test_drift_and_little_project_overlap_are_hinted() -> None:
    old, new = "2026-01-10", "2026-05-20"
    groups = groups_of(
        [
            cell(GOOD, "github.com/me/a", user=[5] * 40, day=old),
            cell(GOOD, "github.com/me/a", user=[-1] * 10, day=new),  # it got worse lately
            cell(PLAN, "github.com/me/b", user=[2] * 40, day=new),  # never on GOOD's project
        ],
        recent_from="2026-03-01",
    )
    rank(groups, "setup")
    good, plan = by_agent(groups)["build"], by_agent(groups)["plan"]
    assert good.recent_mean is not None
    assert good.recent_mean < 0
    assert any(hint.startswith("drift down: ") for hint in good.hints)
    assert not any("drift" in hint for hint in plan.hints)  # all its grades are recent
    assert any("little project overlap" in hint for hint in good.hints)
    assert any("little project overlap" in hint for hint in plan.hints)


def test_revert_rate_and_ranking_are_deterministic_whatever_the_order() -> None:
    cells = [
        cell(GOOD, "github.com/me/a", user=repeat([2, 5, 1], 12), reverted=3),
        cell(PLAN, "github.com/me/a", user=repeat([2, 1], 9)),
        cell(CODEX, "github.com/me/b", user=[5, 2]),
        cell(PLAN, "github.com/me/b", user=[1, 1, 2]),
    ]
    first = rank(groups_of(cells), "setup")
    again = rank(groups_of(list(reversed(cells))), "setup")
    assert [g.as_dict() for g in first.groups] == [g.as_dict() for g in again.groups]
    assert first.recommendation == again.recommendation
    good = by_agent(first.groups)["build"]
    assert good.revert_rate == 0.25


# -- a small simulation: self-grading ---------------------------------------------------------


def old_choice(groups: list[Group], squares: dict[str, int]) -> Group | None:
    """The ranking before issue 8: communication score (agent + user grades) per graded
    commit, shrunk by 5 commits at the overall mean, ranked by the interval's lower end."""
    n_all = sum(g.graded_commits for g in groups)
    s_all = sum(g.communication_score for g in groups)
    q_all = sum(squares.values())
    overall = s_all / n_all
    overall_var = (q_all - s_all * s_all / n_all) / (n_all - 1) if n_all >= 10 else 9.0
    best, best_low = None, -math.inf
    for g in groups:
        n = g.graded_commits
        if n < 5:
            continue
        q = squares[g.label]
        own = (q - g.communication_score**2 / n) / (n - 1)
        pooled = max(((n - 1) * own + 5 * overall_var) / (n - 1 + 5), 1.0)
        shrunk = (g.communication_score + 5 * overall) / (n + 5)
        low = shrunk - 1.96 * math.sqrt(pooled / (n + 5))
        if low > best_low:
            best, best_low = g, low
    return best


def test_on_a_self_grading_history_the_truly_best_setup_wins_far_more_often() -> None:
    rng = Random(8)
    names = [("opencode", f"agent{i}", "m/x") for i in range(4)]

    def grade(quality: float) -> int:
        if rng.random() < quality:
            return 5 if rng.random() < 0.4 else 2
        return -1 if rng.random() < 0.5 else 1

    new_right = old_right = 0
    runs = 150
    for _ in range(runs):
        qualities = rng.sample([0.45, 0.55, 0.65, 0.75], 4)
        best = max(range(4), key=qualities.__getitem__)
        inflater = rng.choice([i for i in range(4) if i != best])
        cells = []
        for i, setup in enumerate(names):
            for project in ("github.com/me/a", "github.com/me/b"):
                user, agent = [], []
                for _ in range(rng.randrange(5, 25)):
                    u = grade(qualities[i])
                    user.append(u)
                    agent.append(5 if i == inflater else grade(qualities[i]))
                cells.append(cell(setup, project, user=user, agent=agent))
        groups = groups_of(cells)
        squares = {  # what the old method also read: the sum of squares of commit scores
            g.label: sum(int(c["score_sq"]) for c in cells if c["agent"] == g.agent)  # type: ignore[call-overload]
            for g in groups
        }
        old = old_choice(groups, squares)
        new = rank(groups, "setup").choice
        truth = names[best][1]
        new_right += new is not None and new.agent == truth
        old_right += old is not None and old.agent == truth
    assert new_right / runs >= 0.6
    assert new_right / runs >= old_right / runs + 0.3
