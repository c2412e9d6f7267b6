"""A window of the prediction log as frames: what callers sent, what they got, what came back.

The log stores one record per request (rows and answers as JSON); monitoring needs one row per
scored input row, with its answer beside it, and one outcome per request. Held-out callers'
rows are kept as inputs (they are traffic like any other) but carry no model answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mleng.serving.prediction_log import PredictionLog


@dataclass(frozen=True)
class LogWindow:
    """Served requests received in [since, until), unfolded to their rows."""

    since: float
    until: float
    requests: pd.DataFrame  # request_id, received_at (UTC), model_version, arm, holdout
    inputs: pd.DataFrame  # one row per input row, the request's columns as sent
    request_of_row: np.ndarray  # request_id of each input row
    predictions: pd.Series  # the answer per input row (None where a holdout got nothing)
    probabilities: pd.DataFrame | None  # per input row, one column per class label
    from_model: np.ndarray  # True where a model version answered (not a holdout)

    @property
    def n_rows(self) -> int:
        return len(self.inputs)


def read_log_window(log: PredictionLog, model_name: str, since: float, until: float) -> LogWindow:
    """The served requests of `model_name` in the window, with their rows and answers."""
    records = log.read_predictions(model_name, since=since, served_only=True)
    records = records[records["received_at"] < until].reset_index(drop=True)
    rows, request_ids, answers, probabilities, from_model = [], [], [], [], []
    for record in records.itertuples(index=False):
        inputs = record.inputs or []
        outputs = record.outputs or {}
        predicted = outputs.get("predictions") or [None] * len(inputs)
        shares = outputs.get("probabilities") or [None] * len(inputs)
        rows += inputs
        request_ids += [record.request_id] * len(inputs)
        answers += list(predicted)
        probabilities += list(shares)
        from_model += [not bool(record.holdout) and bool(record.model_version)] * len(inputs)
    requests = pd.DataFrame(
        {
            "request_id": records["request_id"],
            "received_at": pd.to_datetime(records["received_at"], unit="s", utc=True),
            "model_version": records["model_version"].astype(str),
            "arm": records["arm"].astype(str),
            "holdout": records["holdout"].astype(bool),
        }
    )
    mask = np.asarray(from_model, dtype=bool)
    return LogWindow(
        since=since,
        until=until,
        requests=requests,
        inputs=pd.DataFrame.from_records(rows) if rows else pd.DataFrame(),
        request_of_row=np.asarray(request_ids, dtype=object),
        predictions=pd.Series(answers, dtype=object),
        probabilities=_probability_frame(probabilities, mask),
        from_model=mask,
    )


def _probability_frame(shares: list[dict | None], from_model: np.ndarray) -> pd.DataFrame | None:
    """Class probabilities per row (NaN where the model did not answer), or None for regressors."""
    present = [share for share, mine in zip(shares, from_model, strict=True) if mine and share]
    if not present:
        return None
    labels = list(present[0])
    table = [
        [share.get(label, np.nan) for label in labels]
        if (mine and share)
        else [np.nan] * len(labels)
        for share, mine in zip(shares, from_model, strict=True)
    ]
    return pd.DataFrame(table, columns=labels, dtype="float64")


def label_rows(window: LogWindow, outcomes: pd.DataFrame, target: str) -> pd.DataFrame:
    """The window's rows that got an outcome, with it as the target column: a new training
    batch drawn from live traffic."""
    if outcomes.empty:
        return pd.DataFrame(columns=[*window.inputs.columns, target])
    rows = window.inputs.iloc[outcomes["row"].to_numpy(dtype=int)].reset_index(drop=True)
    return rows.assign(**{target: outcomes["outcome"].to_numpy()})


def read_window_outcomes(log: PredictionLog, window: LogWindow, model_name: str) -> pd.DataFrame:
    """The latest outcome of each one-row request of the window (held-out callers' too: their
    outcomes are the ones the model did not influence).

    Feedback is per request; for a request of several rows it cannot say which row it is about,
    so only one-row requests are joined with their outcome.
    """
    outcomes = log.read_outcomes(model_name)
    if outcomes.empty or window.n_rows == 0:
        return pd.DataFrame(columns=["row", "outcome", "reward"])
    counts = pd.Series(window.request_of_row).value_counts()
    single = set(counts[counts == 1].index)
    by_request = outcomes.drop_duplicates("request_id", keep="last").set_index("request_id")
    picked = [
        (row, by_request.at[request, "outcome"], by_request.at[request, "reward"])
        for row, request in enumerate(window.request_of_row)
        if request in single and request in by_request.index
    ]
    frame = pd.DataFrame(picked, columns=["row", "outcome", "reward"])
    return frame[frame["outcome"].notna()].reset_index(drop=True)
