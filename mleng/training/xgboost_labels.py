"""XGBClassifier for any labels: it needs classes 0..k-1, every other family takes the card's.

A module of its own so that importing mleng never imports xgboost; only a card (or a pickled
model) with the `xgboost` family does.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xgboost
from sklearn.preprocessing import LabelEncoder


class LabelledXGBClassifier(xgboost.XGBClassifier):
    """XGBClassifier whose `classes_` and predictions are the training labels (e.g. '>50K')."""

    def fit(self, X: Any, y: Any, **fit_params: Any) -> LabelledXGBClassifier:
        self.__dict__.pop("labels_", None)  # xgboost checks classes_ against 0..k-1 while fitting
        encoder = LabelEncoder().fit(y)
        super().fit(X, encoder.transform(y), **fit_params)
        self.labels_ = encoder.classes_
        return self

    @property
    def classes_(self) -> np.ndarray:
        labels = self.__dict__.get("labels_")
        return labels if labels is not None else np.arange(self.n_classes_)

    def predict(self, X: Any, **predict_params: Any) -> np.ndarray:
        codes = np.asarray(super().predict(X, **predict_params)).astype(int)
        return self.classes_[codes]
