"""The evidence model: a crossed empirical-Bayes fit of the person's grades, and its odds.

Pure Python, no dependency, no randomness: the same sums give the same numbers.

Model. The user's grade y of a commit made by group g (a setup, or an agent, model, ...) in
project p is

    y = mu + a_g + b_p + e,   a_g ~ N(0, tau_g2),  b_p ~ N(0, tau_p2),  e ~ N(0, sigma2).

The data are per-(group, project) sums over the days in range: n commits graded by the user,
the sum of their grades and the sum of their squares. Estimators:

- sigma2 (residual): the pooled spread within (group, project) cells, sum(Q - S^2/n) over
  sum(n - 1), blended with `PRIOR_RESIDUAL` as if from `PRIOR_DF` more degrees of freedom,
  never below `MIN_VARIANCE` (someone who only ever says "good" still gets an interval).
- mu, a, b, tau_g2 and tau_p2: backfitting (Gauss-Seidel over the mixed model's equations)
  with an EM update of each variance after every pass: tau2 = mean(effect^2 + its conditional
  variance), blended with `PRIOR_TAU` as if from one more member, so that it is never 0 with
  two setups or one project. At most `PASSES` passes; stops early once nothing moves.
- With those variances, the exact posterior of (mu, a) with the project effects integrated out
  (a Schur complement over the projects): a group's *score* mu + a_g is its expected user
  grade on an average project (b = 0), with its posterior variance. That accounts for the
  uncertainty of the project effects a group's commits are compared against (a setup used
  only on hard projects). The dense part is (1 + groups)^2; above `MAX_DENSE` groups the
  variances fall back to the conditional ones of the backfitting.

`odds` turns scores and standard deviations into P(best) (each group's chance to have the
highest true score, the normal approximation taken as independent, by quadrature on a fixed
grid; they sum to 1) and the expected best score, from which the expected loss of a choice
is E[max] - its score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: (group index, project index, n, sum, sum of squares): one cell of user grades.
Cell = tuple[int, int, float, float, float]

PASSES = 50
PRIOR_RESIDUAL = 4.0  # the spread of a typical mix of -1/1/2/5 grades
PRIOR_DF = 4.0
MIN_VARIANCE = 0.25
PRIOR_TAU = 0.25  # between-setup (and between-project) variance assumed before the data
MAX_DENSE = 60
#: Quadrature grid in standard deviations: -5.5..5.5 by 0.125 (the trapezoid rule on a
#: normal density is exact far beyond the 3 decimals shown at this step; the tails beyond
#: hold 4e-8).
_REACH = 5.5
_GRID = [i / 8 for i in range(-44, 45)]
_WEIGHTS = [math.exp(-t * t / 2) / math.sqrt(2 * math.pi) / 8 for t in _GRID]
_SQRT2 = math.sqrt(2.0)


@dataclass
class Fit:
    """The fitted model; lists are indexed like the groups and projects given to `fit`."""

    mean: float  # mu: the expected grade of an average setup on an average project
    residual: float  # sigma2
    between_groups: float  # tau_g2
    between_projects: float | None  # tau_p2 (None when projects are not a factor)
    scores: list[float]  # mu + a_g
    variances: list[float]  # posterior variance of each score
    #: Each score's variance less the covariance all scores share (the overall level, the
    #: projects they share): what comparisons between groups rest on.
    contrasts: list[float]
    project_effects: list[float]  # b_p
    passes: int = 0


def fit(cells: list[Cell], groups: int, projects: int, *, crossed: bool = True) -> Fit | None:
    """Fit the model to `cells` (see the module docstring); None when there is no grade."""
    cells = [c for c in cells if c[2] > 0]
    total_n = sum(c[2] for c in cells)
    if not total_n:
        return None
    within = sum(q - s * s / n for _, _, n, s, q in cells if n > 1)
    df = sum(n - 1 for _, _, n, _, _ in cells)
    sigma2 = max((within + PRIOR_DF * PRIOR_RESIDUAL) / (df + PRIOR_DF), MIN_VARIANCE)
    n_g = [0.0] * groups
    n_p = [0.0] * projects
    for g, p, n, _, _ in cells:
        n_g[g] += n
        n_p[p] += n
    mu = sum(c[3] for c in cells) / total_n
    a = [0.0] * groups
    b = [0.0] * projects
    tau_g = tau_p = PRIOR_TAU
    used_g = [g for g in range(groups) if n_g[g]]
    used_p = [p for p in range(projects) if n_p[p]]
    by_group = [(g, p, n, s) for g, p, n, s, _ in cells]
    by_project = [(p, g, n, s) for g, p, n, s, _ in cells]
    passes = 0
    for passes in range(1, PASSES + 1):  # noqa: B007 - the count is reported
        before = (mu, tau_g, tau_p, *a, *b)
        mu = sum(s - n * (a[g] + b[p]) for g, p, n, s, _ in cells) / total_n
        _sweep(a, n_g, by_group, sigma2 / tau_g, mu, b)
        tau_g = _tau(a, n_g, used_g, sigma2, tau_g)
        if crossed:
            _sweep(b, n_p, by_project, sigma2 / tau_p, mu, a)
            tau_p = _tau(b, n_p, used_p, sigma2, tau_p)
        after = (mu, tau_g, tau_p, *a, *b)
        if max(abs(x - y) for x, y in zip(before, after, strict=True)) < 1e-7:
            break
    scores = [mu + effect for effect in a]
    conditional = [sigma2 / (n + sigma2 / tau_g) for n in n_g]
    variances = [v + sigma2 / total_n for v in conditional]
    contrasts = conditional[:]
    if len(used_g) <= MAX_DENSE:
        mu, mu_var, means, cov = _posterior(
            cells, used_g, n_g, n_p, sigma2, tau_g, tau_p if crossed else None
        )
        shared = _shared(cov)
        for i, g in enumerate(used_g):
            scores[g], variances[g] = means[i], cov[i][i]
            # never below what its own grades leave open, all else known
            contrasts[g] = max(cov[i][i] - shared, conditional[g])
        for g in range(groups):
            if not n_g[g]:  # the prior alone: an average setup
                scores[g], variances[g], contrasts[g] = mu, mu_var + tau_g, tau_g
    return Fit(
        mean=mu,
        residual=sigma2,
        between_groups=tau_g,
        between_projects=tau_p if crossed else None,
        scores=scores,
        variances=variances,
        contrasts=contrasts,
        project_effects=b if crossed else [0.0] * projects,
        passes=passes,
    )


def _sweep(
    effects: list[float],
    counts: list[float],
    cells: list[tuple[int, int, float, float]],
    ratio: float,
    mu: float,
    other: list[float],
) -> None:
    """One Gauss-Seidel sweep over one factor: effect = (sum - n * (mu + the other factor's
    effect)) / (n + sigma2/tau2), over cells given as (own index, other index, n, sum)."""
    sums = [0.0] * len(effects)
    for own, rival, n, s in cells:
        sums[own] += s - n * (mu + other[rival])
    for index, count in enumerate(counts):
        effects[index] = sums[index] / (count + ratio) if count else 0.0


def _tau(
    effects: list[float], counts: list[float], used: list[int], sigma2: float, tau: float
) -> float:
    spread = sum(effects[i] ** 2 + sigma2 / (counts[i] + sigma2 / tau) for i in used)
    return (spread + PRIOR_TAU) / (len(used) + 1)


def _shared(cov: list[list[float]]) -> float:
    """The covariance the scores share: the mean of the off-diagonal ones (exact for two
    groups; the same for all under compound symmetry)."""
    size = len(cov)
    if size < 2:
        return 0.0
    total = sum(cov[i][j] for i in range(size) for j in range(size) if i != j)
    return total / (size * (size - 1))


def _posterior(
    cells: list[Cell],
    used: list[int],
    n_g: list[float],
    n_p: list[float],
    sigma2: float,
    tau_g: float,
    tau_p: float | None,
) -> tuple[float, float, list[float], list[list[float]]]:
    """mu, its variance, and the mean and covariance of the scores mu + a_g (g in `used`),
    exactly, the projects integrated out. Precision of (mu, a): X'X/sigma2 plus the priors,
    minus each project's part (a Schur complement)."""
    slot = {g: i + 1 for i, g in enumerate(used)}
    size = len(used) + 1
    m = [[0.0] * size for _ in range(size)]
    r = [0.0] * size
    m[0][0] = sum(n_g) / sigma2 + 1e-9  # mu: a flat prior
    for g, i in slot.items():
        m[0][i] = m[i][0] = n_g[g] / sigma2
        m[i][i] = n_g[g] / sigma2 + 1 / tau_g
    per_project: dict[int, list[tuple[int, float, float]]] = {}
    for g, p, n, s, _ in cells:
        r[0] += s / sigma2
        r[slot[g]] += s / sigma2
        per_project.setdefault(p, []).append((slot[g], n, s))
    if tau_p is not None:
        for p, members in per_project.items():
            d = n_p[p] / sigma2 + 1 / tau_p
            column = {0: n_p[p] / sigma2}
            for i, n, _ in members:
                column[i] = column.get(i, 0.0) + n / sigma2
            rp = sum(s for _, _, s in members) / sigma2
            for i, ci in column.items():
                r[i] -= ci * rp / d
                row = m[i]
                for j, cj in column.items():
                    row[j] -= ci * cj / d
    inv = _inverse(m)
    mean = [sum(inv[i][j] * r[j] for j in range(size)) for i in range(size)]
    scores = [mean[0] + mean[i] for i in range(1, size)]
    cov = [
        [inv[0][0] + inv[0][i] + inv[0][j] + inv[i][j] for j in range(1, size)]
        for i in range(1, size)
    ]
    return mean[0], inv[0][0], scores, cov


def _inverse(m: list[list[float]]) -> list[list[float]]:
    """Gauss-Jordan with partial pivoting (the matrix is symmetric positive definite)."""
    size = len(m)
    a = [row[:] + [float(i == j) for j in range(size)] for i, row in enumerate(m)]
    for col in range(size):
        pivot = max(range(col, size), key=lambda i: abs(a[i][col]))
        a[col], a[pivot] = a[pivot], a[col]
        head = a[col]
        scale = head[col]
        for j in range(2 * size):
            head[j] /= scale
        for i in range(size):
            if i != col and a[i][col]:
                factor = a[i][col]
                row = a[i]
                for j in range(col, 2 * size):
                    row[j] -= factor * head[j]
    return [row[size:] for row in a]


def normal_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / _SQRT2)


def odds(means: list[float], sds: list[float]) -> tuple[list[float], float]:
    """P(best) of each (summing to 1) and E[max], by quadrature around each candidate:
    P_i = integral of phi_i(x) * prod_{j != i} Phi_j(x) dx, taken as independent."""
    count = len(means)
    if count == 0:
        return [], 0.0
    if count == 1:
        return [1.0], means[0]
    floor = max(m - _REACH * s for m, s in zip(means, sds, strict=True))
    chances = [0.0] * count
    weighted = [0.0] * count
    for i, (mi, si) in enumerate(zip(means, sds, strict=True)):
        if mi + _REACH * si < floor:
            continue  # below a sure bet: no chance to speak of (< 1e-9)
        low = mi - _REACH * si
        rivals = [(m, s) for j, (m, s) in enumerate(zip(means, sds, strict=True)) if j != i]
        rivals = [(m, s) for m, s in rivals if m + _REACH * s > low]  # others are surely below
        p = e = 0.0
        for t, w in zip(_GRID, _WEIGHTS, strict=True):
            x = mi + si * t
            f = w
            for m, s in rivals:
                f *= 0.5 * math.erfc((m - x) / (s * _SQRT2))
                if f < 1e-300:
                    break
            p += f
            e += f * x
        chances[i], weighted[i] = p, e
    total = sum(chances)
    if total <= 0:  # pragma: no cover - some candidate always has a chance
        return [1 / count] * count, max(means)
    return [c / total for c in chances], sum(weighted) / total


def pair_loss(difference: float, variance: float) -> float:
    """E[max(0, B - A)] when A - B ~ N(difference, variance): the expected cost of choosing A."""
    sd = math.sqrt(variance)
    z = difference / sd
    return sd * (math.exp(-z * z / 2) / math.sqrt(2 * math.pi) - z * normal_cdf(-z))


def commits_to_settle(
    difference: float, var_a: float, var_b: float, sigma2: float, target: float
) -> int | None:
    """How many more user-graded commits each two groups need before choosing the better
    costs less than `target` (their means staying as they are): each commit adds 1/sigma2 to
    each one's precision. None beyond 100,000."""

    def loss(k: int) -> float:
        va = 1 / (1 / var_a + k / sigma2)
        vb = 1 / (1 / var_b + k / sigma2)
        return pair_loss(abs(difference), va + vb)

    if loss(0) < target:
        return 0
    high = 1
    while loss(high) >= target:
        high *= 2
        if high > 100_000:
            return None
    low = high // 2  # loss(low) >= target > loss(high)
    while high - low > 1:
        middle = (low + high) // 2
        if loss(middle) < target:
            high = middle
        else:
            low = middle
    return high
