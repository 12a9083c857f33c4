"""Tests of rtl_jax.report: mean ± std formatting, grouping, Markdown/CSV tables and result files."""
import json
import math

import jax.numpy as jnp
import numpy as np
import pytest

from rtl_jax import report


def test_fmt_mean_std_numbers():
    # mean 0.782; deviations -0.002, 0, 0.002 -> sample var (4e-6 + 4e-6) / 2 = 4e-6 -> std 0.002
    assert report.fmt_mean_std([0.780, 0.782, 0.784]) == "0.782 ± 0.002"
    assert report.fmt_mean_std([0.7812]) == "0.781"
    # [1, 2, 3, 4]: mean 2.5, sample std sqrt(5/3) = 1.29099...
    assert report.fmt_mean_std([1, 2, 3, 4], digits=1) == "2.5 ± 1.3"
    assert report.fmt_mean_std([1, 2, 3, 4], digits=4) == "2.5000 ± 1.2910"
    assert report.fmt_mean_std(np.array([0.5, 0.5]), digits=2) == "0.50 ± 0.00"
    assert report.fmt_mean_std([jnp.float32(0.25), np.float64(0.75)], digits=2) == "0.50 ± 0.35"  # std = 0.3536


def test_mean_std():
    mean, std, n = report.mean_std([2.0, 4.0, 9.0])
    assert mean == 5.0 and n == 3
    assert std == pytest.approx(math.sqrt(((2 - 5) ** 2 + (4 - 5) ** 2 + (9 - 5) ** 2) / 2), abs=1e-12)  # sqrt(13)
    assert report.mean_std([3]) == (3.0, 0.0, 1)


@pytest.mark.parametrize(
    "values, match",
    [([], "empty"), ([0.5, float("nan")], "value 1: non-finite value nan"), (["0.5"], "value 0: expected a number"),
     ([None], "value 0: expected a number")],
)
def test_fmt_mean_std_errors(values, match):
    with pytest.raises(ValueError, match=match):
        report.fmt_mean_std(values)


def test_fmt_mean_std_digits_error():
    with pytest.raises(ValueError, match="digits must be a non-negative int, got -1"):
        report.fmt_mean_std([1.0], digits=-1)


ROWS = [
    {"method": "rtl", "k": 10, "seed": 0, "acc": 0.5, "ba": 0.75},
    {"method": "imp", "k": 1, "seed": 0, "acc": 0.9, "ba": 0.5},
    {"method": "rtl", "k": 10, "seed": 1, "acc": 0.7, "ba": 0.25},
    {"method": "rtl", "k": 5, "seed": 0, "acc": 0.6, "ba": 0.5},
]


def test_aggregate_numbers_and_order():
    out = report.aggregate(ROWS, by=["method", "k"], values=["acc", "ba"])
    assert [(r["method"], r["k"], r["n"]) for r in out] == [("rtl", 10, 2), ("imp", 1, 1), ("rtl", 5, 1)]
    rtl10 = out[0]
    assert rtl10["acc_mean"] == pytest.approx(0.6, abs=1e-12)
    assert rtl10["acc_std"] == pytest.approx(math.sqrt(0.02), abs=1e-12)  # (0.1^2 + 0.1^2) / 1
    assert rtl10["ba_mean"] == pytest.approx(0.5, abs=1e-12)
    assert rtl10["ba_std"] == pytest.approx(math.sqrt(0.125), abs=1e-12)  # (0.25^2 + 0.25^2) / 1
    assert out[1] == {"method": "imp", "k": 1, "n": 1, "acc_mean": 0.9, "acc_std": 0.0, "ba_mean": 0.5, "ba_std": 0.0}
    assert set(rtl10) == {"method", "k", "n", "acc_mean", "acc_std", "ba_mean", "ba_std"}
    # no grouping keys: one group over all rows
    (everything,) = report.aggregate(ROWS, by=[], values=["acc"])
    assert everything["n"] == 4 and everything["acc_mean"] == pytest.approx(0.675, abs=1e-12)


def test_aggregate_errors():
    with pytest.raises(ValueError, match=r"row 1 has no value column \['bb'\]"):
        report.aggregate([{"m": 1, "bb": 2}, {"m": 1}], by=["m"], values=["bb"])
    with pytest.raises(ValueError, match=r"row 0 has no grouping key \['method'\]"):
        report.aggregate([{"m": 1, "a": 2}], by=["method"], values=["a"])
    with pytest.raises(ValueError, match=r"columns \['a'\] cannot be both"):
        report.aggregate([{"a": 1}], by=["a"], values=["a"])
    with pytest.raises(ValueError, match="column 'a' of group \\('x',\\): expected a number, got str"):
        report.aggregate([{"m": "x", "a": "0.5"}], by=["m"], values=["a"])
    with pytest.raises(ValueError, match="not strings"):
        report.aggregate(ROWS, by="method", values=["acc"])
    with pytest.raises(ValueError, match="at least one value column"):
        report.aggregate(ROWS, by=["method"], values=[])


def test_markdown_table_shape():
    rows = [
        {"method": "rtl", "acc": 0.78125, "note": None, "k": np.int64(10)},
        {"method": "imp|1", "acc": 0.5, "note": "a", "k": 1},
    ]
    md = report.markdown_table(rows, ["method", "acc", "k", "note"], headers=["Method", "Acc.", "K", "Note"])
    assert md == (
        "| Method | Acc.   | K   | Note |\n"
        "|--------|--------|-----|------|\n"
        "| rtl    | 0.7812 | 10  |      |\n"
        "| imp\\|1 | 0.5000 | 1   | a    |\n"
    )
    lines = md.splitlines()
    assert len(lines) == 2 + len(rows) and len({len(line) for line in lines}) == 1
    assert report.markdown_table(rows, ["acc"], floatfmt=".2f") == "| acc  |\n|------|\n| 0.78 |\n| 0.50 |\n"
    assert report.markdown_table([], ["a", "b"]) == "| a   | b   |\n|-----|-----|\n"


def test_markdown_table_errors():
    with pytest.raises(ValueError, match=r"row 0 has no column \['b'\]"):
        report.markdown_table([{"a": 1}], ["a", "b"])
    with pytest.raises(ValueError, match="1 headers"):
        report.markdown_table([{"a": 1}], ["a", "a"], headers=["x"])
    with pytest.raises(ValueError, match="non-empty"):
        report.markdown_table([{"a": 1}], [])


def test_csv_table():
    rows = [{"m": "rtl, v2", "acc": 0.1 + 0.2, "n": 3, "x": None, "ok": True}]
    text = report.csv_table(rows, ["m", "acc", "n", "x", "ok"])
    assert text == 'm,acc,n,x,ok\n"rtl, v2",0.30000000000000004,3,,True\n'
    with pytest.raises(ValueError, match=r"row 0 has no column \['zz'\]"):
        report.csv_table(rows, ["zz"])


def test_write_results(tmp_path):
    run = tmp_path / "run_abc"
    paths = report.write_results(run, {"acc": np.float32(0.5), "rows": ROWS[:1]}, "| a |\n", "a\n1\n")
    assert paths == {"json": run / "results.json", "md": run / "results.md", "csv": run / "results.csv"}
    assert json.loads(paths["json"].read_text()) == {"acc": 0.5, "rows": ROWS[:1]}
    assert paths["md"].read_text() == "| a |\n" and paths["csv"].read_text() == "a\n1\n"
    paths = report.write_results(tmp_path / "r2", {}, "x")
    assert set(paths) == {"json", "md"} and not (tmp_path / "r2" / "results.csv").exists()
    with pytest.raises(ValueError, match="results must be a dict"):
        report.write_results(tmp_path, [1], "x")
