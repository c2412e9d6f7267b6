"""Algorithm choice: narrow the card's model families to those that meet its requirements.

The reasons are recorded on the run, so "why was no forest tried?" has an answer in the UI.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from mleng.card import DEFAULT_SPACES, DatasetCard, FamilySpace, ParamSpec
from mleng.card.search import LISTED_SPACES
from mleng.errors import CardError
from mleng.training.boosting import OPTIONAL_FAMILIES
from mleng.training.estimators import NATIVE_CATEGORICAL_FAMILIES, is_installed

LINEAR = {"logistic_regression", "ridge", "sgd"}
INCREMENTAL = {"sgd"}
FORESTS = {"random_forest", "extra_trees"}
# A forest walks every tree for each row; under ~50 ms per row a scikit-learn forest of 100+
# deep trees is at risk (measured here: 15-20 ms for a whole single-row pipeline with boosting).
FOREST_LATENCY_FLOOR_MS = 50.0
WIDE_DATA_RATIO = 1.0  # features per row above which trees overfit and linear models win
SKEW_THRESHOLD = 1.0  # |skewness| of a regression target above which a transform is searched


@dataclass(frozen=True)
class DataTraits:
    """What the training rows say about the search: categorical columns and the target's shape."""

    n_categorical: int = 0
    target_skew: float | None = None
    target_min: float | None = None
    n_text: int = 0


def describe_data(n_categorical: int, target: pd.Series, task: str, n_text: int = 0) -> DataTraits:
    """The traits of the training rows; the target's skewness and minimum for regression only."""
    if task != "regression":
        return DataTraits(n_categorical, n_text=n_text)
    values = pd.to_numeric(target, errors="coerce").dropna()
    if len(values) < 3:
        return DataTraits(n_categorical, n_text=n_text)
    return DataTraits(n_categorical, float(values.skew()), float(values.min()), n_text)


@dataclass(frozen=True)
class FamilyChoice:
    """The families to search and, for each rule that applied, the reason."""

    spaces: dict[str, FamilySpace]
    reasons: list[str]


def default_space(family: str, task: str) -> FamilySpace:
    """A family's default space, for families the requirements add but the card did not list."""
    kind = "regression" if task == "regression" else "classification"
    space = (
        DEFAULT_SPACES[kind].get(family)
        or LISTED_SPACES.get(family)
        or {
            "alpha": {"type": "float", "low": 1e-6, "high": 1e-1, "log": True},
            "penalty": {"type": "categorical", "choices": ["l2", "l1", "elasticnet"]},
        }
    )
    return {name: ParamSpec(**spec) for name, spec in space.items()}


def choose_families(
    card: DatasetCard, n_rows: int, n_features: int, traits: DataTraits | None = None
) -> FamilyChoice:
    """Apply the card's requirements to its families; fail, naming the conflict, if none is left.

    With the data's `traits`, add the pipeline choices the data calls for (native categoricals
    for tree boosting, a transform of a skewed regression target), each with its reason.
    """
    assert card.search.families is not None
    check_optional_families(card)
    spaces = {
        family: space or default_space(family, card.task)
        for family, space in card.search.families.items()
    }
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
        skew = None if traits is None else traits.target_skew
        if traits is not None and skew is not None and abs(skew) > SKEW_THRESHOLD:
            # a transformed target has no partial_fit: the incremental refit fits the raw target
            traits = replace(traits, target_skew=None)
            reasons.append("data larger than memory: no target transform (it has no partial_fit)")
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
    if traits is not None:
        reasons += add_data_choices(spaces, traits, card.task)
    return FamilyChoice(spaces, reasons)


def check_optional_families(card: DatasetCard) -> None:
    """Refuse, before any trial, an optional family whose package is missing, and a native
    categorical choice for a family without native categoricals."""
    assert card.search.families is not None
    for family, space in card.search.families.items():
        module = OPTIONAL_FAMILIES.get(family)
        if module is not None and not is_installed(module):
            raise CardError(
                f"card '{card.name}' lists model family '{family}' under search.families, which "
                f"needs the package '{module}': install it with `pip install 'mleng[boosting]'` "
                "or drop the family"
            )
        if "categorical_handling" in (space or {}) and family not in NATIVE_CATEGORICAL_FAMILIES:
            raise CardError(
                f"search.families.{family}.categorical_handling in card '{card.name}': only "
                f"{sorted(NATIVE_CATEGORICAL_FAMILIES)} handle categoricals natively; remove it"
            )


def add_data_choices(spaces: dict[str, FamilySpace], traits: DataTraits, task: str) -> list[str]:
    """Searchable pipeline choices the data calls for, added to spaces that do not set them."""
    reasons = []
    native = sorted(
        family
        for family in spaces
        if family in NATIVE_CATEGORICAL_FAMILIES and "categorical_handling" not in spaces[family]
    )
    if traits.n_categorical and native and traits.n_text:
        reasons.append(
            f"{traits.n_text} text columns: native categoricals not searched for {native} "
            "(their encoder carries no text)"
        )
    elif traits.n_categorical and native:
        choice = ParamSpec(type="categorical", choices=["encoded", "native"])
        for family in native:
            spaces[family] = {**spaces[family], "categorical_handling": choice}
        reasons.append(
            f"{traits.n_categorical} categorical columns: searching categorical_handling "
            f"(the card's encoders, or native categoricals) for {native}"
        )
    skew = traits.target_skew
    if (
        task == "regression"
        and skew is not None
        and np.isfinite(skew)
        and abs(skew) > SKEW_THRESHOLD
    ):
        transforms = ["none", "yeo_johnson"]
        if traits.target_min is not None and traits.target_min >= 0:
            transforms.insert(1, "log")
        choice = ParamSpec(type="categorical", choices=transforms)
        wrapped = sorted(family for family in spaces if "target_transform" not in spaces[family])
        for family in wrapped:
            spaces[family] = {**spaces[family], "target_transform": choice}
        if wrapped:
            reasons.append(
                f"the target is skewed (skewness {skew:.2f}, above {SKEW_THRESHOLD:g} in size): "
                f"searching target_transform {transforms} for {wrapped}"
            )
    return reasons
