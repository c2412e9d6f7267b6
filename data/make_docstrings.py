"""Build data/docstrings.csv.gz: the docstrings of scikit-learn's and SciPy's public API.

A real text classification set that ships inside packages the project installs anyway (both
BSD-3-Clause): one row per public function or class, its summary and extended summary as free
text, and which library it belongs to. The libraries' own names are masked in the text, so a
model must learn the vocabulary of machine learning against that of scientific computing.

Run with the project's environment: `.venv/bin/python data/make_docstrings.py`.
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pandas as pd

SOURCES = {
    "scikit-learn": [
        "sklearn.calibration",
        "sklearn.cluster",
        "sklearn.compose",
        "sklearn.covariance",
        "sklearn.cross_decomposition",
        "sklearn.datasets",
        "sklearn.decomposition",
        "sklearn.discriminant_analysis",
        "sklearn.dummy",
        "sklearn.ensemble",
        "sklearn.feature_extraction",
        "sklearn.feature_extraction.text",
        "sklearn.feature_selection",
        "sklearn.gaussian_process",
        "sklearn.impute",
        "sklearn.inspection",
        "sklearn.isotonic",
        "sklearn.kernel_approximation",
        "sklearn.kernel_ridge",
        "sklearn.linear_model",
        "sklearn.manifold",
        "sklearn.metrics",
        "sklearn.metrics.pairwise",
        "sklearn.mixture",
        "sklearn.model_selection",
        "sklearn.multiclass",
        "sklearn.multioutput",
        "sklearn.naive_bayes",
        "sklearn.neighbors",
        "sklearn.neural_network",
        "sklearn.pipeline",
        "sklearn.preprocessing",
        "sklearn.random_projection",
        "sklearn.semi_supervised",
        "sklearn.svm",
        "sklearn.tree",
        "sklearn.utils",
    ],
    "scipy": [
        "scipy.cluster.hierarchy",
        "scipy.fft",
        "scipy.integrate",
        "scipy.interpolate",
        "scipy.io",
        "scipy.linalg",
        "scipy.ndimage",
        "scipy.optimize",
        "scipy.signal",
        "scipy.sparse",
        "scipy.sparse.csgraph",
        "scipy.sparse.linalg",
        "scipy.spatial",
        "scipy.spatial.distance",
        "scipy.special",
        "scipy.stats",
    ],
}
MASK = re.compile(r"scikit-learn|sklearn|scipy", re.IGNORECASE)
# scikit-learn's pointer to its user guide would give the answer away without reading the text.
USER_GUIDE = re.compile(r"Read more in the :ref:`[^`]*`\.?")
MAX_WORDS = 80


def describe(obj: object) -> str | None:
    """The docstring's summary and extended summary: text up to its first section heading."""
    doc = inspect.getdoc(obj)
    if not doc:
        return None
    paragraphs = []
    for paragraph in doc.split("\n\n"):
        lines = paragraph.strip().splitlines()
        if len(lines) >= 2 and set(lines[1].strip()) <= {"-", "="} and lines[1].strip():
            break  # a numpydoc section ("Parameters\n----------") ends the description
        if paragraph.strip().startswith((">>>", "..", ":")):
            continue
        paragraphs.append(" ".join(line.strip() for line in lines))
    text = USER_GUIDE.sub("", " ".join(paragraphs))
    words = MASK.sub("the library", text).split()
    return " ".join(words[:MAX_WORDS]) if len(words) >= 3 else None


def count_parameters(obj: object) -> float:
    try:
        return float(len(inspect.signature(obj).parameters))
    except (TypeError, ValueError):
        return float("nan")


def build_rows() -> pd.DataFrame:
    rows, seen = [], set()
    for library, modules in SOURCES.items():
        for module_name in modules:
            module = importlib.import_module(module_name)
            names = getattr(module, "__all__", None) or dir(module)
            for name in sorted(set(names)):
                try:
                    obj = getattr(module, name, None)
                except ImportError:  # experimental estimators need an explicit enable import
                    continue
                if name.startswith("_") or not (inspect.isclass(obj) or inspect.isroutine(obj)):
                    continue
                text = describe(obj)
                key = (library, getattr(obj, "__qualname__", name), text)
                if text is None or key in seen:
                    continue
                seen.add(key)
                rows.append(
                    {
                        "name": f"{module_name}.{name}",
                        "kind": "class" if inspect.isclass(obj) else "function",
                        "n_parameters": count_parameters(obj),
                        "description": text,
                        "library": library,
                    }
                )
    frame = pd.DataFrame(rows).drop_duplicates(subset=["description"]).reset_index(drop=True)
    return frame


if __name__ == "__main__":
    import scipy
    import sklearn

    out = Path(__file__).with_name("docstrings.csv.gz")
    frame = build_rows()
    frame.to_csv(out, index=False, compression={"method": "gzip", "mtime": 0})
    print(
        f"{out}: {len(frame)} rows ({frame['library'].value_counts().to_dict()}) from "
        f"scikit-learn {sklearn.__version__}, SciPy {scipy.__version__}"
    )
