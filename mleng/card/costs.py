"""The card's `costs:` block: what each kind of mistake costs and each correct decision is worth.

A metric such as ROC AUC says how well a model ranks; a business asks what its decisions cost.
With `costs:` the run reports the expected cost per decision (and per 1,000 decisions) of the
model, every baseline and the heuristic rule, tunes the binary decision threshold to minimise it,
and the gate can read it as the primary metric (`promotion.primary: expected_cost`).

Binary cards give `false_positive` and `false_negative` (and optionally `true_positive`,
`true_negative`; a value is a negative cost). Multiclass cards give `matrix: {true_label:
{predicted_label: cost}}` (missing diagonal cells cost 0); its labels are checked against the
target's at run time. Regression cards give `over_prediction` and `under_prediction`, the cost
per unit of error on each side.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from mleng.card.base import StrictModel

Label = str | int | bool
BINARY_KEYS = ("false_positive", "false_negative", "true_positive", "true_negative")
REGRESSION_KEYS = ("over_prediction", "under_prediction")


class CostSettings(StrictModel):
    """The cost of each kind of decision, in one unit (money, minutes, ...): lower is better."""

    false_positive: float | None = Field(
        default=None, description="binary: cost of predicting the positive label for a negative"
    )
    false_negative: float | None = Field(
        default=None, description="binary: cost of missing a positive"
    )
    true_positive: float = Field(
        default=0.0, description="binary: cost of a caught positive (negative: its value)"
    )
    true_negative: float = Field(
        default=0.0, description="binary: cost of a correct negative (negative: its value)"
    )
    matrix: dict[Label, dict[Label, float]] | None = Field(
        default=None,
        description="multiclass: {true_label: {predicted_label: cost}}; missing diagonal cells "
        "cost 0, every other cell must be given",
    )
    over_prediction: float | None = Field(
        default=None, ge=0, description="regression: cost per unit predicted above the truth"
    )
    under_prediction: float | None = Field(
        default=None, ge=0, description="regression: cost per unit predicted below the truth"
    )
    unit: str = Field(default="cost", description="what one unit of cost is, for the reports")

    @model_validator(mode="after")
    def check_one_kind(self) -> CostSettings:
        kinds = {
            "binary": self.false_positive is not None or self.false_negative is not None,
            "multiclass": self.matrix is not None,
            "regression": self.over_prediction is not None or self.under_prediction is not None,
        }
        given = [kind for kind, present in kinds.items() if present]
        if len(given) != 1:
            raise ValueError(
                "costs: give exactly one kind: false_positive and false_negative (binary), "
                "matrix (multiclass) or over_prediction and under_prediction (regression); "
                f"found {given or 'none'}"
            )
        if kinds["binary"] and (self.false_positive is None or self.false_negative is None):
            raise ValueError("costs: a binary card needs both false_positive and false_negative")
        if kinds["regression"] and (self.over_prediction is None or self.under_prediction is None):
            raise ValueError(
                "costs: a regression card needs both over_prediction and under_prediction"
            )
        return self

    @property
    def kind(self) -> str:
        """The task these costs are written for: binary, multiclass or regression."""
        if self.matrix is not None:
            return "multiclass"
        return "binary" if self.false_positive is not None else "regression"


def check_costs_for_task(costs: CostSettings, task: str) -> None:
    """Refuse costs written for another task, naming the keys the card's task takes."""
    if costs.kind == task:
        return
    keys = {
        "binary": "false_positive, false_negative (and optionally true_positive, true_negative)",
        "multiclass": "matrix: {true_label: {predicted_label: cost}}",
        "regression": "over_prediction, under_prediction",
    }
    raise ValueError(
        f"costs are written for a {costs.kind} task, but the task is '{task}'; use {keys[task]}"
    )
