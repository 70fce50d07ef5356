"""What a spending budget is: a limit in USD per period (day, week or total) for one key or
one tenant, the period a moment falls in, and when that period ends.

The ledger (ledger.py) keeps what was spent in each period in Redis; this module only says
which period a moment belongs to, so every worker that reads the same clock agrees. Days and
weeks begin at midnight in BUDGET_TIMEZONE (weeks on Monday, as ISO weeks do); a `total`
budget never resets.

Money is counted in integer nano-dollars (1e-9 USD) in Redis: list prices are a few tenths
of a micro-dollar per token (gpt-4o-mini input: 0.15 USD per 1M tokens = 150 nano-dollars
a token), so a request's cost is a whole number of them, sums are exact, and Lua's doubles
hold them exactly up to 2^53 nano-dollars (about 9 million USD).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Literal

from .errors import ServiceError

Period = Literal["day", "week", "total"]
PERIODS: tuple[Period, ...] = ("day", "week", "total")
NANO = 1_000_000_000  # nano-dollars per USD


def to_nano(usd: float) -> int:
    return round(usd * NANO)


def to_usd(nano: int | float) -> float:
    return round(nano / NANO, 9)


def zone(name: str) -> tzinfo:
    """A time zone by its IANA name ("UTC" needs no time-zone database)."""
    if name.upper() == "UTC":
        return UTC
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


@dataclass(frozen=True)
class Window:
    """One period of a budget: its id (part of the Redis key) and when it ends."""

    id: str  # "d2025-03-14", "w2025-03-10" (the Monday), "total"
    ends_at: float | None  # unix seconds; None: a total budget never resets


def window(period: Period, now: float, tz: tzinfo) -> Window:
    """The period `now` (unix seconds) falls in."""
    if period == "total":
        return Window("total", None)
    local = datetime.fromtimestamp(now, tz)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "week":
        start -= timedelta(days=start.weekday())
        end = start + timedelta(days=7)
    else:
        end = start + timedelta(days=1)
    # Aware datetimes add days on the wall clock, so across a daylight-saving change the
    # end is still local midnight (a 23- or 25-hour day).
    return Window(f"{period[0]}{start.date().isoformat()}", end.timestamp())


@dataclass(frozen=True)
class Budget:
    """A spending limit of one key or one tenant."""

    scope: Literal["key", "tenant"]
    owner: str  # the key's id or the tenant's name
    limit_usd: float
    period: Period

    def describe(self) -> str:
        per = {"day": "a day", "week": "a week", "total": "in total"}[self.period]
        return f"The budget of {self.scope} {self.owner} (${self.limit_usd:.2f} {per})"


class BudgetExceeded(ServiceError):
    """A key's or its tenant's budget for this period is used up (429)."""

    status, type = 429, "budget_exceeded"


def exceeded(
    budget: Budget, win: Window, spent_nano: int, held_nano: int, now: float
) -> BudgetExceeded:
    """The refusal a client gets: which budget, what was spent, when it resets.

    Spent: over the limit until the period ends (Retry-After: until then; none for a total
    budget). Not yet spent but held by requests still running (the last stretch of a budget
    is spent one request at a time, ledger.py): come back in a second."""
    spent, limit = to_usd(spent_nano), budget.limit_usd
    details = {
        "budget": {
            "scope": budget.scope,
            "owner": budget.owner,
            "limit_usd": limit,
            "period": budget.period,
            "spent_usd": spent,
            "resets_at": iso_time(win.ends_at),
        }
    }
    if spent_nano < to_nano(limit):  # the rest is held by requests in progress
        return BudgetExceeded(
            f"{budget.describe()} is almost used up: "
            f"${spent:.4f} spent and the rest held by requests still running. Retry when "
            "they have finished.",
            retry_after=1,
            code="budget_held",
            details=details,
        )
    if win.ends_at is None:
        return BudgetExceeded(
            f"{budget.describe()} is used up (${spent:.4f} "
            "spent). It does not reset; ask your instructor to raise it.",
            details=details,
        )
    wait = max(1, math.ceil(win.ends_at - now))
    return BudgetExceeded(
        f"{budget.describe()} is used up (${spent:.4f} "
        f"spent). It resets at {iso_time(win.ends_at)} (in {_duration(wait)}).",
        retry_after=wait,
        details=details,
    )


def iso_time(ts: float | None) -> str | None:
    """Unix seconds as ISO 8601 in UTC ("2025-03-14T09:30:00Z")."""
    if not ts:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _duration(seconds: int) -> str:
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h} h {m} min" if h else f"{m} min {s} s" if m else f"{s} s"
