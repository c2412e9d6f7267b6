"""Successive halving for the coarse round: look at many configurations cheaply, pay in full
only for the most promising.

A cheap look fits each CV fold on a share (`fraction`) of its training rows and still scores
the whole validation fold; the best `keep` share of those configurations (and the best of every
family, so each family reaches the fine stage) is then scored at full cost. A cheap score is
never compared with a full one: the fine rounds, patience and the final choice read full
scores only. Budget is counted in full-cost evaluations, a cheap look costing `fraction` of one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from mleng.errors import SearchError


@dataclass(frozen=True)
class Halving:
    """Cheap looks at `fraction` of the training rows, then the best `keep` share at full cost."""

    fraction: float = 1 / 3
    keep: float = 1 / 3

    def __post_init__(self) -> None:
        if not (0 < self.fraction < 1 and 0 < self.keep <= 1):
            raise SearchError(
                f"halving needs 0 < fraction < 1 and 0 < keep <= 1, got fraction "
                f"{self.fraction} and keep {self.keep}"
            )


def plan_halving(n_coarse: int, n_families: int, halving: Halving) -> tuple[int, int] | None:
    """How many configurations get a cheap look and how many of them are promoted (one per
    family at least), so that both rungs together cost no more than `n_coarse` full evaluations;
    None when that buys no more configurations than a plain coarse round (few trials, many
    families)."""
    candidates = math.floor(n_coarse / (halving.fraction + halving.keep))
    while candidates > n_coarse:
        promoted = max(n_families, math.ceil(halving.keep * candidates))
        if candidates * halving.fraction + promoted <= n_coarse + 1e-9:
            return candidates, promoted
        candidates -= 1
    return None


def choose_promotions(
    cheap: list[tuple[str, dict[str, Any], float]], n_promoted: int
) -> list[tuple[str, dict[str, Any]]]:
    """The configurations to score at full cost: each family's best cheap look first, then the
    best of the rest; failed looks (nan) only when nothing else is left. Order of proposal breaks
    ties, so the choice is reproducible."""
    order = sorted(
        range(len(cheap)),
        key=lambda i: (not math.isfinite(cheap[i][2]), -_finite(cheap[i][2]), i),
    )
    chosen: list[int] = []
    families: set[str] = set()
    for i in order:
        if cheap[i][0] not in families:
            families.add(cheap[i][0])
            chosen.append(i)
    chosen += [i for i in order if i not in chosen][: max(0, n_promoted - len(chosen))]
    return [(cheap[i][0], cheap[i][1]) for i in sorted(chosen, key=order.index)]


def _finite(score: float) -> float:
    return score if math.isfinite(score) else -math.inf
