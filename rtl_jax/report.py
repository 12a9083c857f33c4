"""Result tables: mean ± std over seeds, grouping, Markdown/CSV rendering and result files.

Rows are plain dicts (one per run/seed/setting). :func:`aggregate` groups them and gives mean, sample
std (``ddof=1``; 0 for a single value) and count per group; :func:`markdown_table` / :func:`csv_table`
render any list of rows; :func:`write_results` writes ``results.json`` / ``results.md`` /
``results.csv`` into a run directory (each file atomically).
"""
from __future__ import annotations

import csv as csv_lib
import io
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rtl_jax import checkpoint as ckpt


# --------------------------------------------------------------------------- numbers
def _as_float(value: Any, where: str) -> float:
    """A finite float from a number (Python, numpy or 0-d JAX array); strings and None are rejected."""
    if value is None or isinstance(value, (str, bytes)):
        raise ValueError(f"{where}: expected a number, got {type(value).__name__}: {value!r}")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: expected a number, got {type(value).__name__}: {value!r}") from None
    if not math.isfinite(x):
        raise ValueError(f"{where}: non-finite value {x!r}")
    return x


def _check_digits(digits: int) -> None:
    if not isinstance(digits, int) or isinstance(digits, bool) or digits < 0:
        raise ValueError(f"digits must be a non-negative int, got {digits!r}")


def mean_std(values: Sequence[Any]) -> tuple[float, float, int]:
    """``(mean, sample std with ddof=1 (0.0 for one value), n)``; empty or non-finite input raises."""
    xs = [_as_float(v, f"value {i}") for i, v in enumerate(values)]
    if not xs:
        raise ValueError("mean_std of an empty sequence")
    arr = np.asarray(xs, dtype=np.float64)
    std = float(np.std(arr, ddof=1)) if len(xs) > 1 else 0.0
    return float(np.mean(arr)), std, len(xs)


def fmt_mean_std(values: Sequence[Any], digits: int = 3) -> str:
    """``"0.781 ± 0.004"`` (sample std, ``ddof=1``); a single value gives ``"0.781"``."""
    _check_digits(digits)
    mean, std, n = mean_std(values)
    if n == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


# --------------------------------------------------------------------------- grouping
def _require_keys(rows: Sequence[dict], keys: Sequence[str], what: str) -> None:
    if isinstance(rows, dict) or not isinstance(rows, Sequence):
        raise ValueError(f"rows must be a list of dicts, got {type(rows).__name__}")
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ValueError(f"row {i} is a {type(row).__name__}, expected a dict")
        missing = [k for k in keys if k not in row]
        if missing:
            raise ValueError(f"row {i} has no {what} {missing}; its keys are {sorted(map(str, row))}")


def aggregate(rows: Sequence[dict], by: Sequence[str], values: Sequence[str]) -> list[dict]:
    """Group ``rows`` by the keys ``by`` and summarise each ``values`` column per group.

    Returns one dict per group, in order of first appearance: the ``by`` keys, ``"n"`` (rows in the
    group) and ``f"{col}_mean"`` / ``f"{col}_std"`` (sample std, ``ddof=1``; 0.0 when ``n == 1``).
    """
    if isinstance(by, str) or isinstance(values, str):
        raise ValueError(f"by and values must be sequences of column names, not strings: {by!r}, {values!r}")
    by, values = list(by), list(values)
    if not values:
        raise ValueError("aggregate needs at least one value column")
    clash = sorted(set(by) & set(values)) + [c for c in by if c == "n"]
    if clash:
        raise ValueError(f"columns {clash} cannot be both grouping keys and values (or be named 'n')")
    _require_keys(rows, by, "grouping key")
    _require_keys(rows, values, "value column")
    groups: dict[tuple, list[dict]] = {}
    for i, row in enumerate(rows):
        key = tuple(row[k] for k in by)
        try:
            groups.setdefault(key, []).append(row)
        except TypeError:
            raise ValueError(f"row {i}: grouping values {key!r} are not hashable") from None
    out = []
    for key, members in groups.items():
        summary: dict[str, Any] = dict(zip(by, key, strict=True))
        summary["n"] = len(members)
        for col in values:
            xs = [_as_float(r[col], f"column {col!r} of group {key!r}") for r in members]
            mean, std, _ = mean_std(xs)
            summary[f"{col}_mean"] = mean
            summary[f"{col}_std"] = std
        out.append(summary)
    return out


# --------------------------------------------------------------------------- rendering
def _cell(value: Any, floatfmt: str) -> str:
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (float, np.floating)):
        return format(float(value), floatfmt)
    if isinstance(value, np.integer):
        return str(int(value))
    return str(value)


def _table_cells(rows: Sequence[dict], columns: Sequence[str], floatfmt: str) -> list[list[str]]:
    if isinstance(columns, str) or not columns:
        raise ValueError(f"columns must be a non-empty sequence of names, got {columns!r}")
    _require_keys(rows, columns, "column")
    return [[_cell(row[c], floatfmt) for c in columns] for row in rows]


def markdown_table(
    rows: Sequence[dict], columns: Sequence[str], headers: Sequence[str] | None = None, *, floatfmt: str = ".4f"
) -> str:
    """A GitHub-flavoured Markdown table of ``columns`` (headers default to the column names).

    Floats are formatted with ``floatfmt``; ``None`` is an empty cell; ``|`` in cells is escaped.
    Columns are padded to equal width. Ends with a newline.
    """
    if isinstance(columns, str) or isinstance(headers, str):
        raise ValueError(f"columns and headers must be sequences of names, not strings: {columns!r}, {headers!r}")
    columns = list(columns)
    headers = list(columns if headers is None else headers)
    if len(headers) != len(columns):
        raise ValueError(f"{len(headers)} headers {headers} for {len(columns)} columns {columns}")
    body = _table_cells(rows, columns, floatfmt)
    clean = lambda s: str(s).replace("|", "\\|").replace("\n", " ")
    headers = [clean(h) for h in headers]
    body = [[clean(c) for c in r] for r in body]
    widths = [max([len(h)] + [len(r[j]) for r in body] + [3]) for j, h in enumerate(headers)]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(headers), sep] + [line(r) for r in body]) + "\n"


def csv_table(rows: Sequence[dict], columns: Sequence[str]) -> str:
    """CSV text with a header row; floats in full precision (``repr``), ``None`` as an empty field."""
    if isinstance(columns, str) or not columns:
        raise ValueError(f"columns must be a non-empty sequence of names, got {columns!r}")
    columns = list(columns)
    _require_keys(rows, columns, "column")
    buf = io.StringIO()
    writer = csv_lib.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_csv_cell(row[c]) for c in columns])
    return buf.getvalue()


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, np.integer):
        return str(int(value))
    return str(value)


# --------------------------------------------------------------------------- files
def write_results(
    run_dir: str | os.PathLike, results: dict, markdown: str, csv: str | None = None
) -> dict[str, Path]:
    """Write ``results.json`` (atomic), ``results.md`` and (when given) ``results.csv`` into ``run_dir``.

    Returns ``{"json": path, "md": path[, "csv": path]}``.
    """
    if not isinstance(results, dict):
        raise ValueError(f"results must be a dict, got {type(results).__name__}")
    if not isinstance(markdown, str):
        raise ValueError(f"markdown must be a str, got {type(markdown).__name__}")
    if csv is not None and not isinstance(csv, str):
        raise ValueError(f"csv must be a str or None, got {type(csv).__name__}")
    run = Path(run_dir)
    paths = {"json": ckpt.write_json_atomic(run / "results.json", results)}
    paths["md"] = ckpt.write_text_atomic(run / "results.md", markdown)
    if csv is not None:
        paths["csv"] = ckpt.write_text_atomic(run / "results.csv", csv)
    return paths
