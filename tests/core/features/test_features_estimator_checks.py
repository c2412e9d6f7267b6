"""Every hand-written feature transformer honours scikit-learn's estimator contract."""

from __future__ import annotations

from sklearn.base import BaseEstimator
from sklearn.utils.estimator_checks import parametrize_with_checks

from mleng.features.columns import CategoricalEncoder, NumericTransformer
from mleng.features.encoders import CountEncoder, OddsRatioEncoder
from mleng.features.selection import CorrelationFilter

CROSS_FITTING = (
    "fit_transform cross-fits on purpose so no training row sees its own target; it therefore "
    "differs from fit().transform(), which these checks require to be equal"
)


def expected_failed_checks(estimator: BaseEstimator) -> dict[str, str]:
    """Only the odds-ratio encoder fails, and only the checks that
    fit_transform == fit().transform().

    The target encoder inside CategoricalEncoder cross-fits too but passes: for categorical
    estimators the checks round X into a few large levels, whose out-of-fold target means agree
    with the full-data ones within tolerance. The log-odds of those nearly pure levels depend on
    the exact counts in each fold, so they do not.
    """
    if not isinstance(estimator, OddsRatioEncoder):
        return {}
    return {
        "check_transformer_general": CROSS_FITTING,
        "check_transformer_general(readonly_memmap=True)": CROSS_FITTING,
        "check_transformer_data_not_an_array": CROSS_FITTING,
    }


@parametrize_with_checks(
    [
        CountEncoder(),
        CountEncoder(normalize=True),
        OddsRatioEncoder(cv=3, random_state=0),
        CategoricalEncoder(),
        CategoricalEncoder(encoder="count"),
        CategoricalEncoder(encoder="target", cv=3),
        NumericTransformer(),
        NumericTransformer(binning="quantile", n_bins=3, scaling="robust"),
        CorrelationFilter(threshold=0.9),
    ],
    expected_failed_checks=expected_failed_checks,
)
def test_transformer_honours_estimator_contract(estimator: BaseEstimator, check) -> None:  # type: ignore[no-untyped-def]
    check(estimator)
