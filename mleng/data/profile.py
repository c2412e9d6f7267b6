"""Draft a dataset card for any CSV or Parquet file: task, column roles and flags for review.

`mleng card init` reads the file once, infers what a user would otherwise write by hand (the task
from the target, id and timestamp columns, numeric and categorical features), and writes the card
as commented YAML: every guess that can go wrong in a way that matters (an identifier taken for a
feature, a numeric code taken for a measurement) is flagged with a `REVIEW:` comment on its line.
The draft is validated by loading it exactly as `mleng train` does before anything is written.

This module holds what touches files and names: the card's name and destinations, reading the
data, composing the draft, checking and writing it. The guesses live in `inference` (task, column
roles) and `series` (windows for a file that is one series), the card's text in `card_yaml`.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mleng.card import DatasetCard, load_card
from mleng.data.card_yaml import CardFacts, render_card
from mleng.data.inference import (
    ColumnRoles,
    TaskGuess,
    format_count,
    infer_roles,
    infer_task,
    override_task,
)
from mleng.data.loading import (
    FeatureColumns,
    build_examples,
    infer_feature_columns,
    load_dataset,
    read_table,
)
from mleng.data.series import infer_windows
from mleng.errors import CardError, DataError

COMPRESSION_SUFFIXES = (".gz", ".bz2", ".zip", ".xz", ".zst")


@dataclass(frozen=True)
class CardDraft:
    """A card's YAML text and where it and its suite go."""

    name: str
    card_path: Path
    suite_path: Path
    text: str
    roles: ColumnRoles
    task: TaskGuess


# ---------------------------------------------------------------------------------------------
# Names, formats and destinations


def dataset_stem(data_path: Path) -> str:
    """The file name without its format and compression extensions: adult.csv.gz -> adult."""
    name = data_path.name
    for suffix in COMPRESSION_SUFFIXES:
        name = name.removesuffix(suffix)
    return re.sub(r"\.(csv|parquet|pq)$", "", name, flags=re.IGNORECASE)


def _valid_name(text: str) -> str:
    """A card name valid for DatasetCard (letters, digits, `_.-`, starting alphanumeric)."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", text)
    name = re.sub(r"^[^A-Za-z0-9]+", "", name).rstrip("_.-")
    return name or "dataset"


def dataset_name(data_path: Path) -> str:
    """The data file's name as a card name: `my data.csv.gz` -> `my_data`."""
    return _valid_name(dataset_stem(Path(data_path)))


def card_name(card_path: Path) -> str:
    """The card's `name` (experiment, suite file): its file's stem, so two cards drafted from one
    file for two targets (`--out configs/income.yaml`, `--out configs/race.yaml`) never share a
    suite or an experiment. By default the card is `configs/<data file's name>.yaml`."""
    return _valid_name(Path(card_path).stem)


def model_name_for(name: str) -> str:
    """The registered model's name: the card name with hyphens (co2_weekly -> co2-weekly)."""
    return re.sub(r"[_.]+", "-", name)


def file_format(data_path: Path) -> str:
    """csv or parquet, from the extension (compressed CSV included)."""
    name = data_path.name.lower()
    for suffix in COMPRESSION_SUFFIXES:
        name = name.removesuffix(suffix)
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".parquet", ".pq")) and name == data_path.name.lower():
        return "parquet"
    raise CardError(
        f"Cannot tell the format of {data_path} from its extension; mleng card init reads .csv "
        f"(optionally compressed: {', '.join(COMPRESSION_SUFFIXES)}) and .parquet files: "
        "rename the file or convert it"
    )


def default_card_path(data_path: Path) -> Path:
    """`configs/<name>.yaml` in the current folder."""
    return Path("configs") / f"{dataset_name(data_path)}.yaml"


def project_suite_path(card_path: Path, name: str) -> Path:
    """`expectations/<name>.json` in the project: the current folder when the card lies inside it,
    else the card's own folder. `find_project_suite` finds either from any working folder."""
    folder = card_path.resolve().parent
    here = Path.cwd().resolve()
    project = here if folder == here or here in folder.parents else folder
    return project / "expectations" / f"{name}.json"


def refuse_overwrite(paths: Iterable[Path], force: bool) -> None:
    """Stop before any work when a destination exists and --force was not given."""
    existing = [str(path) for path in paths if Path(path).exists()]
    if existing and not force:
        raise CardError(
            f"{' and '.join(existing)} already exist{'s' if len(existing) == 1 else ''}; "
            "pass --force to overwrite, or --out to write the card elsewhere"
        )


# ---------------------------------------------------------------------------------------------
# Draft, check, write


def read_data(data_path: Path, target: str) -> tuple[pd.DataFrame, str]:
    """The file as a frame and its format; a missing file or target names the fix."""
    fmt = file_format(data_path)
    if not data_path.is_file():
        problem = "is a folder, not a file" if data_path.is_dir() else "does not exist"
        raise DataError(
            f"Data file {data_path} {problem}; pass the path of a CSV or Parquet file "
            f"(relative paths start from the current folder, {Path.cwd()})"
        )
    frame = read_table(data_path, fmt)
    if frame.empty:
        raise DataError(f"Data file {data_path} has a header but 0 rows; supply data rows")
    if target not in frame.columns:
        shown = ", ".join(map(str, list(frame.columns)[:30]))
        raise DataError(
            f"Data file {data_path} ({format_count(len(frame))} rows) has no column '{target}'; "
            f"its columns are {shown}. Pass one of them as --target (names are case-sensitive)"
        )
    return frame, fmt


def check_labelled(frame: pd.DataFrame, target: str, source: str) -> None:
    """Rows must have a target: the suite requires one (series windows skip unlabelled steps)."""
    unlabelled = int(frame[target].isna().sum())
    if unlabelled:
        raise DataError(
            f"Target column '{target}' of {source} is empty in {format_count(unlabelled)} of "
            f"{format_count(len(frame))} rows; a row without a target cannot train and fails the "
            "suite: drop those rows from the file (or label them), then rerun"
        )


def draft_card(
    data_path: Path, target: str, card_path: Path | None = None, task: str | None = None
) -> CardDraft:
    """Read the file, infer task and roles, and compose the card's text (nothing is written)."""
    data_path = Path(data_path)
    frame, fmt = read_data(data_path, target)
    card_path = Path(card_path) if card_path is not None else default_card_path(data_path)
    name = card_name(card_path)
    source = str(data_path)
    guess = (
        infer_task(frame[target], source)
        if task is None
        else override_task(frame[target], task, source)
    )
    roles = infer_roles(frame, target)
    windows, windows_note = None, ""
    if not roles.numeric and not roles.categorical:
        if roles.timestamp_column is None or guess.task != "regression":
            raise DataError(
                f"Data file {data_path} ({format_count(len(frame))} rows) has no feature columns "
                f"besides the target '{target}' (ids: {roles.id_columns or 'none'}, timestamp: "
                f"{roles.timestamp_column or 'none'}, unused: {list(roles.unused) or 'none'}); "
                "a model needs at least one input column: add feature columns to the file"
            )
        windows, windows_note = infer_windows(frame, roles.timestamp_column, source)
    else:
        check_labelled(frame, target, source)
    relative = _card_relative(data_path, card_path)
    facts = CardFacts(
        name=name,
        model_name=model_name_for(name),
        data_path=relative.as_posix(),
        file_format=fmt,
        target=target,
        source=data_path.name,
        shape=frame.shape,
        card_path=card_path.as_posix(),
        task=guess,
        roles=roles,
        windows=windows,
        windows_note=windows_note,
    )
    text = render_card(facts)
    return CardDraft(name, card_path, project_suite_path(card_path, name), text, roles, guess)


def _card_relative(data_path: Path, card_path: Path) -> Path:
    """The data's path relative to the card's folder, as load_card resolves it; absolute when the
    two share no folder but the root (a relative path would climb to / and back down)."""
    data, folder = data_path.resolve(), card_path.resolve().parent
    if Path(os.path.commonpath([data, folder])) == Path(data.anchor):
        return data
    return Path(os.path.relpath(data, folder))


def check_draft(draft: CardDraft) -> tuple[DatasetCard, pd.DataFrame, FeatureColumns]:
    """Load the draft exactly as `mleng train` will (card, data, examples, feature columns) from a
    temporary file beside its destination, so a card that does not load is never written."""
    folder = draft.card_path.resolve().parent
    folder.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        dir=folder, prefix=f".{draft.card_path.name}.", suffix=".yaml"
    )
    try:
        with os.fdopen(handle, "w") as stream:
            stream.write(draft.text)
        card = load_card(temporary)
        examples = build_examples(load_dataset(card), card)
        columns = infer_feature_columns(examples, card)
    except DataError as error:  # the data as the card reads it: a file problem, not a bug
        raise DataError(f"{error}. Nothing was written") from None
    except CardError as error:
        raise CardError(
            f"mleng card init drafted a card for {draft.name} that does not load ({error}); "
            "nothing was written. Please report it; meanwhile write the card by hand from "
            "configs/adult.yaml"
        ) from None
    finally:
        Path(temporary).unlink(missing_ok=True)
    return card, examples, columns


def write_card(draft: CardDraft, overwrite: bool = False) -> None:
    """Write the card's text atomically (a reader never sees half a card)."""
    refuse_overwrite([draft.card_path], overwrite)
    path = draft.card_path
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as stream:
            stream.write(draft.text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
