"""The summary's search line says why the search ended, in the card's own words."""

from __future__ import annotations

from mleng.card.search import SearchConfig
from mleng.reports.summary import describe_search, explain_stop


def test_a_search_stopped_by_patience_names_the_rounds_and_the_smallest_gain():
    settings = SearchConfig(budget=40, patience=2, min_improvement=0.0005)
    stopped_by = explain_stop(settings, 18, elapsed_s=10.0)
    line = describe_search(settings, 18, stopped_by)
    assert stopped_by == "patience"
    assert "18 of 40 evaluations" in line
    assert "2 fine round(s) in a row gained no more than search.min_improvement 0.0005" in line


def test_a_search_without_patience_that_ends_early_ran_out_of_configurations():
    settings = SearchConfig(budget=40)
    line = describe_search(settings, 12, explain_stop(settings, 12, elapsed_s=1.0))
    assert line.endswith("stopped early: every configuration was scored")


def test_a_search_that_spent_its_time_budget_says_so_and_one_that_spent_its_budget_says_nothing():
    timed = SearchConfig(budget=40, time_budget_s=30)
    assert explain_stop(timed, 25, elapsed_s=31.0) == "time_budget"
    assert "time budget of 30 s was spent" in describe_search(timed, 25, "time_budget")
    spent = SearchConfig(budget=10)
    assert explain_stop(spent, 10, elapsed_s=1.0) == "budget"
    assert "stopped" not in describe_search(spent, 10, "budget")
