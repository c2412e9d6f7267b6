"""The model card reports every section, measured or not, in words a reviewer can check."""

from __future__ import annotations

import re

from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mleng.assessment.slices import SliceMetric
from mleng.card import ImbalanceSettings, PromotionPolicy
from mleng.evaluation import MetricInterval
from mleng.promotion import ChampionComparison, GateEvidence, MetricGain, decide_promotion
from mleng.reports.model_card import (
    DataFacts,
    ModelCardFacts,
    SearchFacts,
    build_promotion_facts,
    describe_pipeline,
    render_model_card,
)
from mleng.training.threshold import ThresholdChoice

SECTIONS = [
    "Data",
    "Features",
    "Class imbalance",
    "Search",
    "Test metrics",
    "Baselines",
    "Slices",
    "Robustness",
    "Shift",
    "Promotion",
    "Limits",
    "Figures",
]


def section(card: str, heading: str) -> str:
    """The body of one `## heading` section."""
    match = re.search(
        rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", card, flags=re.DOTALL | re.MULTILINE
    )
    assert match, f"section {heading} missing"
    return match.group(1).strip()


def interval(estimate: float, low: float, high: float) -> MetricInterval:
    return MetricInterval(estimate, low, high, "percentile")


def make_full_facts() -> ModelCardFacts:
    decision = decide_promotion(
        PromotionPolicy(min_metric=0.95),
        "roc_auc",
        False,
        GateEvidence(
            (0.912, 0.903, 0.921),
            {"zero_rule": 0.5},
            ChampionComparison(
                "3", paired_rows=6000, gains=(MetricGain("roc_auc", 0.02, 0.005, 0.035, 0.99),)
            ),
        ),
    )
    return ModelCardFacts(
        model_name="adult-income",
        version="4",
        task="binary",
        data=DataFacts(
            source="data/adult.csv.gz",
            rows={"train": 24000, "test": 6000},
            validation="passed: 14 of 14 expectations",
            findings=["fnlwgt is a sampling weight, not a feature of the person"],
        ),
        features=["scale: StandardScaler()", "model: LogisticRegression(C=0.5)"],
        imbalance=ImbalanceSettings(strategy="resample", sampler="smote"),
        threshold=ThresholdChoice(0.31, "balanced_accuracy", 0.81, 0.74),
        search=SearchFacts(
            strategy="coarse_to_fine",
            budget=40,
            metric="roc_auc",
            best_per_family={
                "logistic_regression": {
                    "score": 0.90,
                    "std": 0.01,
                    "trials": 12,
                    "params": {"C": 0.5},
                },
                "random_forest": {
                    "score": 0.91,
                    "std": 0.02,
                    "trials": 28,
                    "params": {"max_depth": 9},
                },
            },
            chosen_family="random_forest",
        ),
        metrics={"roc_auc": interval(0.912, 0.903, 0.921), "log_loss": interval(0.31, 0.29, 0.33)},
        baselines={"zero_rule": {"roc_auc": 0.5, "log_loss": 0.55}},
        slices=[
            SliceMetric("sex", "Female", 2000, {"roc_auc": interval(0.93, 0.91, 0.95)}, False),
            SliceMetric("race", "Other", 12, {"roc_auc": interval(0.8, 0.5, 1.0)}, True),
        ],
        robustness=["prediction unchanged when `education` is swapped for `education-num`"],
        shift=["no feature drifted between train and test (PSI < 0.1)"],
        promotion=build_promotion_facts(decision),
        limits=["trained on 1994 census data; incomes are not inflation-adjusted"],
        figures={"ROC curve": "figures/roc_curve.png"},
    )


def test_every_section_appears_in_order() -> None:
    card = render_model_card(make_full_facts())

    headings = re.findall(r"^## (.+)$", card, flags=re.MULTILINE)
    assert headings == SECTIONS
    assert card.startswith("# Model card: adult-income v4")


def test_missing_sections_say_not_measured() -> None:
    card = render_model_card(ModelCardFacts(model_name="bare"))

    for heading in SECTIONS[:-1]:
        assert section(card, heading) == "_not measured_", heading
    assert section(card, "Figures") == "_none attached_"


def test_metrics_show_estimates_with_intervals_and_direction() -> None:
    card = render_model_card(make_full_facts())

    metrics = section(card, "Test metrics")
    assert "| roc_auc | 0.9120 [0.9030, 0.9210] | higher |" in metrics
    assert "| log_loss | 0.3100 [0.2900, 0.3300] | lower |" in metrics
    assert "95% interval" in metrics


def test_baselines_sit_next_to_the_model() -> None:
    baselines = section(render_model_card(make_full_facts()), "Baselines")

    assert "| model | 0.9120 | 0.3100 |" in baselines
    assert "| zero_rule | 0.5000 | 0.5500 |" in baselines


def test_small_slices_are_flagged_and_intervals_shown() -> None:
    slices = section(render_model_card(make_full_facts()), "Slices")

    assert "| sex | Female | 2,000 | 0.9300 [0.9100, 0.9500] |  |" in slices
    assert (
        "| race | Other | 12 | 0.8000 [0.5000, 1.0000] | small group: interval unreliable |"
        in slices
    )


def test_promotion_lists_every_check_passed_or_failed() -> None:
    promotion = section(render_model_card(make_full_facts()), "Promotion")

    assert promotion.startswith("**not promoted** (champion v3)")
    bullets = [line for line in promotion.splitlines() if line.startswith("- ")]
    assert [line.split(":")[0] for line in bullets] == [
        "- passed data_checks",
        "- FAILED min_metric",
        "- passed beat_baselines",
        "- passed beat_champion",
    ]


def test_a_rendered_report_nests_under_its_section() -> None:
    report = "## Distribution shift: No significant shift\n\nAUC 0.51\n\n### Columns\n| a | b |"
    card = render_model_card(ModelCardFacts(model_name="m", shift=report))

    assert re.findall(r"^## (.+)$", card, flags=re.MULTILINE) == SECTIONS
    shift = section(card, "Shift")
    assert shift.startswith("#### Distribution shift: No significant shift")
    assert "##### Columns" in shift


def test_search_marks_the_chosen_family_and_data_lists_findings() -> None:
    card = render_model_card(make_full_facts())

    assert "| random_forest (chosen) | 0.9100 | 0.0200 | 28 | max_depth=9 |" in section(
        card, "Search"
    )
    data = section(card, "Data")
    assert "- rows: train 24,000, test 6,000" in data
    assert "- fnlwgt is a sampling weight" in data
    imbalance = section(card, "Class imbalance")
    assert "`resample:smote`" in imbalance and "0.3100" in imbalance


def test_empty_lists_differ_from_unmeasured_sections() -> None:
    card = render_model_card(ModelCardFacts(model_name="m", robustness=[], limits=[], slices=[]))

    assert section(card, "Robustness") == "_no findings_"
    assert section(card, "Limits") == "_none known_"
    assert section(card, "Slices") == "_no slice columns chosen_"
    assert section(card, "Shift") == "_not measured_"


def test_pipes_in_values_do_not_break_tables() -> None:
    facts = ModelCardFacts(
        model_name="m",
        slices=[SliceMetric("job", "a|b", 40, {"accuracy": interval(0.9, 0.8, 1.0)}, False)],
    )

    slices = section(render_model_card(facts), "Slices")

    assert "| job | a\\|b | 40 |" in slices


def test_pipeline_description_names_steps_columns_and_changed_parameters() -> None:
    pipeline = Pipeline(
        [
            (
                "features",
                ColumnTransformer(
                    [
                        (
                            "numeric",
                            Pipeline(
                                [
                                    ("impute", SimpleImputer(strategy="median")),
                                    ("scale", StandardScaler()),
                                ]
                            ),
                            ["age", "hours"],
                        ),
                        ("categorical", OneHotEncoder(), [f"c{i}" for i in range(10)]),
                    ]
                ),
            ),
            ("model", LogisticRegression(C=0.5)),
        ]
    )

    lines = describe_pipeline(pipeline)

    assert lines == [
        "- features: ColumnTransformer",
        "  - numeric on [age, hours]:",
        "    - impute: `SimpleImputer(strategy='median')`",
        "    - scale: `StandardScaler()`",
        "  - categorical on [c0, c1, c2, c3, c4, c5, c6, c7 and 2 more]: `OneHotEncoder()`",
        "- model: `LogisticRegression(C=0.5)`",
    ]
    card = render_model_card(ModelCardFacts(model_name="m", features=lines))
    assert section(card, "Features").splitlines() == lines
