"""Pure pieces of the service's answers: the JSON of scores, feedback bodies, derived rewards."""

from __future__ import annotations

from typing import Any

import numpy as np

from mleng.serving.requests import RequestError
from mleng.serving.served_model import Scores, ServedModel


def render_scores(model: ServedModel, scores: Scores) -> dict[str, Any]:
    """The JSON answer: labels or values, probabilities by class label, the version."""
    answer: dict[str, Any] = {
        "predictions": np.asarray(scores.predictions).tolist(),
        "probabilities": None,
        "model_version": model.version,
    }
    if scores.probabilities is not None and model.classes is not None:
        labels = [str(label) for label in model.classes]
        answer["probabilities"] = [
            dict(zip(labels, row, strict=True)) for row in scores.probabilities.tolist()
        ]
    return answer


def parse_feedback(payload: Any) -> tuple[str, Any, float | None]:
    """`request_id`, `outcome` and `reward` of a feedback body, or a RequestError naming the
    field."""
    if not isinstance(payload, dict):
        raise RequestError(400, "the feedback body must be a JSON object")
    unknown = sorted(set(payload) - {"request_id", "outcome", "reward"})
    if unknown:
        raise RequestError(
            400, f"unknown field(s) {unknown}; send request_id, outcome, reward", unknown[0]
        )
    request_id = payload.get("request_id")
    if not isinstance(request_id, str) or not request_id:
        raise RequestError(400, "request_id (the id /predict returned) is required", "request_id")
    outcome, reward = payload.get("outcome"), payload.get("reward")
    if outcome is None and reward is None:
        raise RequestError(400, "send the outcome, the reward, or both", "outcome")
    if isinstance(outcome, (dict, list)):
        raise RequestError(400, "outcome must be one label or value", "outcome")
    if reward is not None:
        if isinstance(reward, bool) or not isinstance(reward, (int, float)):
            raise RequestError(400, "reward must be a number between 0 and 1", "reward")
        if not 0.0 <= float(reward) <= 1.0:
            raise RequestError(
                400, f"reward {reward} is outside [0, 1]; scale business rewards to it", "reward"
            )
        reward = float(reward)
    return request_id, outcome, reward


def derive_reward(served: dict[str, Any], outcome: Any) -> float | None:
    """1 when a classifier's served label was the outcome, 0 when not; None for regression or a
    holdout that served nothing (no label to judge)."""
    predictions = (served.get("outputs") or {}).get("predictions") or []
    if len(predictions) != 1 or predictions[0] is None:
        return None
    if (served.get("outputs") or {}).get("probabilities") is None:
        return None
    return 1.0 if str(predictions[0]) == str(outcome) else 0.0
