"""How groups are ranked: the evidence model (`model`), the groups' sums (`group`) and the
recommendation rules (`advice`)."""

from agent_tracker.ranking.advice import (
    LOSS_TIE,
    RECENT_DAYS,
    WORTH_TRYING,
    Ranking,
    known,
    rank,
)
from agent_tracker.ranking.group import (
    INFLATION_MIN_BOTH,
    INFLATION_WARNING,
    MIN_USER_GRADED,
    TREND_WEEKS,
    Group,
    round3,
)

__all__ = [
    "INFLATION_MIN_BOTH",
    "INFLATION_WARNING",
    "LOSS_TIE",
    "MIN_USER_GRADED",
    "RECENT_DAYS",
    "TREND_WEEKS",
    "WORTH_TRYING",
    "Group",
    "Ranking",
    "known",
    "rank",
    "round3",
]
