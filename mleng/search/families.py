"""Algorithm choice: narrow the card's model families to those that meet its requirements.

The reasons are recorded on the run, so "why was no forest tried?" has an answer in the UI.
"""

from __future__ import annotations

from dataclasses import dataclass

from mleng.card import DEFAULT_SPACES, DatasetCard, FamilySpace, ParamSpec
from mleng.errors import CardError

LINEAR = {"logistic_regression", "ridge", "sgd"}
INCREMENTAL = {"sgd"}
FORESTS = {"random_forest", "extra_trees"}
# A forest walks every tree for each row; under ~50 ms per row a scikit-learn forest of 100+
# deep trees is at risk (measured here: 15-20 ms for a whole single-row pipeline with boosting).
FOREST_LATENCY_FLOOR_MS = 50.0
WIDE_DATA_RATIO = 1.0  # features per row above which trees overfit and linear models win


@dataclass(frozen=True)
class FamilyChoice:
    """The families to search and, for each rule that applied, the reason."""

    spaces: dict[str, FamilySpace]
    reasons: list[str]


def default_space(family: str, task: str) -> FamilySpace:
    """A family's default space, for families the requirements add but the card did not list."""
    kind = "regression" if task == "regression" else "classification"
    space = DEFAULT_SPACES[kind].get(family) or {
        "alpha": {"type": "float", "low": 1e-6, "high": 1e-1, "log": True},
        "penalty": {"type": "categorical", "choices": ["l2", "l1", "elasticnet"]},
    }
    return {name: ParamSpec(**spec) for name, spec in space.items()}


def choose_families(card: DatasetCard, n_rows: int, n_features: int) -> FamilyChoice:
    """Apply the card's requirements to its families; fail, naming the conflict, if none is left."""
    assert card.search.families is not None
    spaces = dict(card.search.families)
    reasons: list[str] = []
    needs = card.requirements

    def keep(allowed: set[str], reason: str) -> None:
        dropped = sorted(set(spaces) - allowed)
        if dropped:
            for family in dropped:
                spaces.pop(family)
            reasons.append(f"{reason}: dropped {dropped}")

    if needs.larger_than_memory:
        if "sgd" not in spaces:
            spaces["sgd"] = default_space("sgd", card.task)
            reasons.append(
                "data larger than memory: added the incremental learner 'sgd' (partial_fit)"
            )
        keep(INCREMENTAL, "data larger than memory needs partial_fit")
    if needs.explainability:
        keep(LINEAR, "explainability required: only linear models have readable coefficients")
    if needs.nonlinearity == "none":
        keep(LINEAR, "the card expects a linear relation")
    elif needs.nonlinearity == "expected":
        if set(spaces) - LINEAR:
            keep(
                set(spaces) - LINEAR,
                "the card expects non-linearity, which linear families cannot fit",
            )
        else:
            reasons.append(
                "the card expects non-linearity but only linear families remain; they are kept"
            )
    if needs.max_latency_ms is not None and needs.max_latency_ms < FOREST_LATENCY_FLOOR_MS:
        keep(
            set(spaces) - FORESTS,
            f"latency budget {needs.max_latency_ms} ms is below "
            f"{FOREST_LATENCY_FLOOR_MS:.0f} ms per row",
        )
    if n_features > WIDE_DATA_RATIO * n_rows and len(set(spaces) & LINEAR) > 0:
        keep(
            LINEAR,
            f"{n_features} features for {n_rows} rows: wide data favours regularised linear models",
        )
    if not spaces:
        raise CardError(
            f"The requirements in card '{card.name}' leave no model family to search "
            f"({'; '.join(reasons)}); relax a requirement or add a family that meets them under "
            "search.families"
        )
    if card.search.budget < len(spaces):
        raise CardError(
            f"search budget {card.search.budget} is below the {len(spaces)} families left by the "
            "requirements; raise it"
        )
    if not reasons:
        reasons.append("no requirement narrowed the card's families")
    return FamilyChoice(spaces, reasons)
