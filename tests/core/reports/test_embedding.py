"""Pages that carry their own figures: data URIs in markdown, a self-contained HTML card."""

import base64

from mleng.quality.plots import new_figure
from mleng.reports.embedding import embed_figures, render_html_page, render_png

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def a_figure_png() -> bytes:
    figure = new_figure(2, 2)
    figure.add_subplot().plot([0, 1], [1, 0])
    return render_png(figure)


def test_known_figure_links_are_inlined_and_unknown_ones_kept():
    png = a_figure_png()
    markdown = "![roc curve](plots/roc.png)\n\n![other](plots/missing.png)"
    embedded = embed_figures(markdown, {"plots/roc.png": png})
    uri = embedded.split("](", 1)[1].split(")", 1)[0]
    assert uri.startswith("data:image/png;base64,")
    assert base64.b64decode(uri.removeprefix("data:image/png;base64,")) == png
    assert png.startswith(PNG_SIGNATURE)
    assert "![other](plots/missing.png)" in embedded


def test_the_html_page_renders_tables_and_images_with_no_remote_assets():
    markdown = (
        "# Card\n\n| metric | value |\n|---|---|\n| roc_auc | 0.93 |\n\n"
        "![roc](data:image/png;base64,AAAA)"
    )
    page = render_html_page(markdown, "Model card for m v1")
    assert "<table>" in page and "<td>roc_auc</td>" in page
    assert '<img alt="roc" src="data:image/png;base64,AAAA"' in page
    assert "http" not in page and "<script" not in page
    assert "<title>Model card for m v1</title>" in page
