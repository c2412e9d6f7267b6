"""One family's fine-round geometry: the box around its top results."""

from __future__ import annotations

import numpy as np

from mleng.search.candidates import search_box


def test_search_box_spans_the_top_points_plus_margin_inside_the_unit_cube() -> None:
    points = np.array([[0.1, 0.5], [0.2, 0.55], [0.9, 0.0], [0.95, 0.99]])
    lower, upper = search_box(points, np.array([3.0, 2.0, 1.0, 0.0]), n_top=2, margin=0.15)
    np.testing.assert_allclose(lower, [0.0, 0.35])
    np.testing.assert_allclose(upper, [0.35, 0.70])
