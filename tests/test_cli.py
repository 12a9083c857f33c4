"""Tests of experiments.cli (the shared experiment command line) and rtl_jax.progress."""
from __future__ import annotations

import dataclasses
import json
import os
from typing import Literal

import pytest

import rtl_jax
from experiments import cli
from rtl_jax import config, progress


@dataclasses.dataclass(frozen=True)
class DataCfg:
    name: Literal["fmnist", "digits"] = "fmnist"
    per_class: int | None = None


@dataclasses.dataclass(frozen=True)
class DemoCfg:
    epochs: int = 10
    lr: float = 0.1
    shuffle: bool = True
    levels: tuple[float, ...] = (0.2,)
    data: DataCfg = dataclasses.field(default_factory=DataCfg)


def full() -> DemoCfg:
    return DemoCfg()


def quick() -> DemoCfg:
    return DemoCfg(epochs=1, data=DataCfg(per_class=100))


def parse(*argv: str):
    return cli.build_parser("demo experiment").parse_args(list(argv))


# --------------------------------------------------------------------------- parser
def test_parser_defaults():
    args = parse()
    assert (args.quick, args.overrides, args.workdir, args.seeds, args.seed) == (False, [], "runs", 1, 0)
    assert args.print_config is False and args.no_progress is False
    assert cli.seeds(args) == [0]


def test_parser_all_flags():
    args = parse("--quick", "--set", "lr=0.5", "--set", "data.name=digits", "--workdir", "/tmp/w", "--seeds", "3",
                 "--seed", "5", "--print-config", "--no-progress")
    assert args.quick and args.overrides == ["lr=0.5", "data.name=digits"] and args.workdir == "/tmp/w"
    assert cli.seeds(args) == [5, 6, 7]
    assert args.print_config and args.no_progress


@pytest.mark.parametrize("argv", [["--seeds", "0"], ["--seeds", "x"], ["--seed", "-1"], ["--bogus"]])
def test_parser_rejects_bad_arguments(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        parse(*argv)
    assert exc.value.code == 2
    assert "error" in capsys.readouterr().err


# --------------------------------------------------------------------------- config resolution
def test_resolve_config_quick_full_and_overrides():
    assert cli.resolve_config(parse(), full=full, quick=quick) == DemoCfg()
    assert cli.resolve_config(parse("--quick"), full=full, quick=quick) == quick()
    cfg = cli.resolve_config(
        parse("--quick", "--set", "lr=0.05", "--set", "data.per_class=none", "--set", "levels=0.1,0.2", "--set",
              "epochs=3", "--set", "epochs=4"),
        full=full, quick=quick,
    )
    assert cfg == DemoCfg(epochs=4, lr=0.05, levels=(0.1, 0.2), data=DataCfg(per_class=None))


@pytest.mark.parametrize(
    "override, match",
    [
        ("epochs", r"malformed override 'epochs': expected KEY=VALUE"),
        ("=1", r"malformed override '=1'"),
        ("data..name=x", r"malformed override 'data..name=x'"),
        ("epoch=3", r"unknown config key 'epoch': 'epoch' is not a field of <top level>; valid keys are "
                    r"\['epochs', 'lr', 'shuffle', 'levels', 'data'\]"),
        ("data.size=3", r"unknown config key 'data.size'.*valid keys are \['name', 'per_class'\]"),
        ("lr.x=3", r"'lr' is a float, not a nested config"),
        ("epochs=1.5", r"--set epochs=1.5: cannot parse '1.5' as int"),
        ("lr=fast", r"--set lr=fast: cannot parse 'fast' as float"),
        ("lr=nan", r"--set lr=nan: cannot parse 'nan' as float \(non-finite"),
        ("shuffle=maybe", r"--set shuffle=maybe: cannot parse 'maybe' as bool \(expected true/false/1/0\)"),
        ("data.name=cifar", r"--set data.name=cifar: cannot parse 'cifar' as Literal\['fmnist', 'digits'\]; "
                            r"allowed values are \['fmnist', 'digits'\]"),
        ("data.per_class=many", r"--set data.per_class=many: cannot parse 'many' as int \| None"),
        ("levels=0.1,big", r"--set levels\[1\]=big: cannot parse 'big' as float"),
        ("data=digits", r"'data' is a nested config \(DataCfg\); set one of its fields instead: "
                        r"\['data.name', 'data.per_class'\]"),
    ],
)
def test_every_set_error_names_key_value_and_type(override, match):
    with pytest.raises(ValueError, match=match):
        cli.resolve_config(parse("--set", override), full=full, quick=quick)


# --------------------------------------------------------------------------- run directories
def test_run_directory_is_content_addressed(tmp_path):
    full_dir = cli.run_directory(tmp_path, "demo", full())
    quick_dir = cli.run_directory(tmp_path, "demo", quick())
    assert full_dir == tmp_path / "demo_99914b932b"  # full() == dataclass defaults: md5("{}")
    assert quick_dir == tmp_path / f"demo_{config.run_hash(quick())}" and quick_dir != full_dir
    changed = cli.resolve_config(parse("--quick", "--set", "lr=0.2"), full=full, quick=quick)
    assert cli.run_directory(tmp_path, "demo", changed) not in (full_dir, quick_dir)
    assert cli.run_directory("runs", "demo", quick()) == cli.run_directory("runs", "demo", quick())
    assert not full_dir.exists()
    with pytest.raises(ValueError, match="run directory prefix"):
        cli.run_directory(tmp_path, "a/b", full())


def test_init_run_directory_writes_and_checks_config(tmp_path):
    cfg = quick()
    run_dir = cli.init_run_directory(tmp_path, "demo", cfg)
    assert run_dir == cli.run_directory(tmp_path, "demo", cfg) and run_dir.is_dir()
    record = json.loads((run_dir / "config.json").read_text())
    assert record == {
        "experiment": "demo",
        "config_class": f"{DemoCfg.__module__}.DemoCfg",
        "run_hash": config.run_hash(cfg),
        "non_defaults": {"epochs": 1, "data": {"per_class": 100}},
        "config": config.to_dict(cfg),
        "rtl_jax_version": rtl_jax.__version__,
    }
    assert config.from_dict(DemoCfg, record["config"]) == cfg
    assert cli.init_run_directory(tmp_path, "demo", cfg) == run_dir  # idempotent
    record["non_defaults"] = {"epochs": 2}
    (run_dir / "config.json").write_text(json.dumps(record))
    with pytest.raises(ValueError, match="belongs to a different config"):
        cli.init_run_directory(tmp_path, "demo", cfg)


def test_config_json_for_print_config():
    out = json.loads(cli.config_json(quick(), "demo"))
    assert out["run_hash"] == config.run_hash(quick()) and out["config"]["epochs"] == 1
    assert out["non_defaults"] == {"epochs": 1, "data": {"per_class": 100}}


def test_no_progress_flag_disables_bars(monkeypatch):
    monkeypatch.setenv(progress.ENV_VAR, "1")
    cli.resolve_config(parse(), full=full, quick=quick)
    assert progress.progress_enabled()
    cli.resolve_config(parse("--no-progress"), full=full, quick=quick)
    assert os.environ[progress.ENV_VAR] == "0" and not progress.progress_enabled()


# --------------------------------------------------------------------------- progress
def test_progress_disabled_prints_nothing(monkeypatch, capsys):
    monkeypatch.setenv(progress.ENV_VAR, "0")
    assert list(progress.progress(range(3), desc="demo")) == [0, 1, 2]
    assert capsys.readouterr().err == ""


def test_progress_enabled_shows_count_and_rate(monkeypatch, capsys):
    monkeypatch.setenv(progress.ENV_VAR, "1")
    assert list(progress.progress(iter("abcd"), total=4, desc="tickets", unit="step")) == ["a", "b", "c", "d"]
    err = capsys.readouterr().err
    assert "tickets" in err and "4/4" in err and "step/s" in err
    monkeypatch.delenv(progress.ENV_VAR)
    assert progress.progress_enabled()


def test_progress_errors_and_log(monkeypatch, capsys):
    monkeypatch.setenv(progress.ENV_VAR, "maybe")
    with pytest.raises(ValueError, match="RTL_PROGRESS='maybe'"):
        progress.progress(range(2))
    monkeypatch.setenv(progress.ENV_VAR, "0")
    with pytest.raises(ValueError, match="total must be a non-negative int"):
        progress.progress(range(2), total=-1)
    progress.log("level 1 done")
    assert capsys.readouterr().err == "level 1 done\n"
