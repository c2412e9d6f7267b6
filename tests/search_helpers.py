"""Search spaces shared by the search tests: parameter builders and a six-parameter space."""

from __future__ import annotations

from mleng.card import ParamSpec


def float_param(low: float, high: float, log: bool = False) -> ParamSpec:
    return ParamSpec(type="float", low=low, high=high, log=log)


def int_param(low: float, high: float, log: bool = False) -> ParamSpec:
    return ParamSpec(type="int", low=low, high=high, log=log)


SIX_PARAMETERS = {
    "learning_rate": float_param(1e-4, 1.0, log=True),
    "l2": float_param(1e-6, 10.0, log=True),
    "leaves": int_param(4, 256, log=True),
    "fraction": float_param(0.1, 1.0),
    "depth": int_param(1, 20),
    "alpha": float_param(1e-3, 1e3, log=True),
}
