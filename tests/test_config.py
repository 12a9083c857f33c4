"""Tests of rtl_jax.config: typed dict round trips, dotted overrides, non-defaults and run hashes."""
from __future__ import annotations

import dataclasses
import hashlib
from typing import Literal, Optional

import numpy as np
import pytest

from rtl_jax import config


@dataclasses.dataclass(frozen=True)
class PruneCfg:
    amount: float = 0.2
    by: Literal["fraction", "count"] = "fraction"
    count: int = 4096
    levels: tuple[float, ...] = (0.5, 0.25)


@dataclasses.dataclass(frozen=True)
class TrainCfg:
    lr: float = 1e-3
    epochs: int = 2
    nesterov: bool = False
    schedule: Optional[str] = None  # noqa: UP045 - the typing.Optional spelling is tested on purpose
    clip: float | None = None
    names: tuple[str, ...] = ()
    shape: tuple[int, int] = (28, 28)
    ticket: Literal[0, 1, 2] = 0
    weights: tuple[float, ...] | None = None


@dataclasses.dataclass(frozen=True)
class ExpCfg:
    name: str = "demo"
    prune: PruneCfg = dataclasses.field(default_factory=PruneCfg)
    train: TrainCfg = TrainCfg(lr=0.1)  # the parent's default instance differs from TrainCfg()


# "Version 2" of the same configs: one more defaulted field at each level.
@dataclasses.dataclass(frozen=True)
class PruneCfgV2:
    amount: float = 0.2
    by: Literal["fraction", "count"] = "fraction"
    count: int = 4096
    levels: tuple[float, ...] = (0.5, 0.25)
    scope: Literal["global", "layerwise"] = "global"


@dataclasses.dataclass(frozen=True)
class ExpCfgV2:
    name: str = "demo"
    prune: PruneCfgV2 = dataclasses.field(default_factory=PruneCfgV2)
    train: TrainCfg = TrainCfg(lr=0.1)
    new_flag: bool = False
    new_section: PruneCfg = dataclasses.field(default_factory=PruneCfg)


@dataclasses.dataclass(frozen=True)
class Required:
    size: int
    inner: PruneCfg


def example() -> ExpCfg:
    return ExpCfg(prune=PruneCfg(amount=0.5, levels=(0.1,)), train=TrainCfg(lr=0.1, epochs=3))


# --------------------------------------------------------------------------- dicts
def test_to_dict_is_nested_json_with_lists():
    d = config.to_dict(example())
    assert d == {
        "name": "demo",
        "prune": {"amount": 0.5, "by": "fraction", "count": 4096, "levels": [0.1]},
        "train": {
            "lr": 0.1, "epochs": 3, "nesterov": False, "schedule": None, "clip": None,
            "names": [], "shape": [28, 28], "ticket": 0, "weights": None,
        },
    }
    # an int stored in a float field serialises as a float
    assert config.to_dict(ExpCfg(prune=PruneCfg(amount=1)))["prune"]["amount"] == 1.0
    assert isinstance(config.to_dict(ExpCfg(prune=PruneCfg(amount=1)))["prune"]["amount"], float)
    weights = config.to_dict(TrainCfg(weights=(1, 2.5)))["weights"]
    assert weights == [1.0, 2.5] and isinstance(weights[0], float)


def test_from_dict_round_trips_and_fills_defaults():
    cfg = example()
    assert config.from_dict(ExpCfg, config.to_dict(cfg)) == cfg
    assert config.from_dict(ExpCfg, config.non_defaults(cfg)) == cfg
    assert config.from_dict(ExpCfg, {}) == ExpCfg()
    # a partial nested dict overrides the parent's default instance (lr=0.1), not TrainCfg() (lr=1e-3)
    assert config.from_dict(ExpCfg, {"train": {"epochs": 5}}).train == TrainCfg(lr=0.1, epochs=5)
    # lists become tuples, ints in float fields become floats
    got = config.from_dict(ExpCfg, {"prune": {"levels": [1, 0.5], "amount": 1}})
    assert got.prune.levels == (1.0, 0.5) and isinstance(got.prune.levels[0], float)
    assert isinstance(got.prune.amount, float)
    assert config.from_dict(Required, {"size": 3, "inner": {}}) == Required(3, PruneCfg())


@pytest.mark.parametrize(
    "d, match",
    [
        ({"bogus": 1}, r"unknown keys \['bogus'\]"),
        ({"prune": {"amout": 0.1}}, r"config 'prune' \(PruneCfg\): unknown keys \['amout'\]"),
        ({"prune": {"count": 1.5}}, r"'prune.count': value 1.5 \(float\) is not a valid int"),
        ({"prune": {"count": True}}, r"'prune.count': value True \(bool\) is not a valid int"),
        ({"prune": {"amount": "0.5"}}, r"'prune.amount': value '0.5' \(str\) is not a valid float"),
        ({"prune": {"amount": float("nan")}}, r"non-finite"),
        ({"prune": {"by": "random"}}, r"allowed values are \['fraction', 'count'\]"),
        ({"prune": {"levels": [0.1, "x"]}}, r"'prune.levels\[1\]'"),
        ({"prune": {"levels": 0.1}}, r"'prune.levels': value 0.1"),
        ({"train": {"nesterov": 1}}, r"'train.nesterov': value 1 \(int\) is not a valid bool"),
        ({"train": {"shape": [28]}}, r"expected 2 elements, got 1"),
        ({"train": {"ticket": "1"}}, r"allowed values are \[0, 1, 2\]"),
        ({"train": 3}, r"'train': value 3 \(int\) is not a valid TrainCfg"),
        ({"name": None}, r"'name': value None"),
    ],
)
def test_from_dict_is_strict(d, match):
    with pytest.raises(ValueError, match=match):
        config.from_dict(ExpCfg, d)


def test_from_dict_required_fields():
    with pytest.raises(ValueError, match="required key 'inner' is missing"):
        config.from_dict(Required, {"size": 1})
    with pytest.raises(ValueError, match="needs a dataclass type"):
        config.from_dict(dict, {})


# --------------------------------------------------------------------------- dotted paths
def test_replace_path_and_get_path():
    cfg = ExpCfg()
    new = config.replace_path(cfg, "prune.amount", 0.3)
    assert new.prune.amount == 0.3 and cfg.prune.amount == 0.2  # original untouched
    assert new.train == cfg.train and new.name == cfg.name
    assert config.get_path(new, "prune.amount") == 0.3
    assert config.replace_path(cfg, "prune.levels", [0.1, 0.2]).prune.levels == (0.1, 0.2)
    assert config.replace_path(cfg, "prune", PruneCfg(count=5)).prune == PruneCfg(count=5)
    with pytest.raises(ValueError, match=r"'prune.amout'.*valid keys are \['amount', 'by', 'count', 'levels'\]"):
        config.replace_path(cfg, "prune.amout", 0.3)
    with pytest.raises(ValueError, match=r"'nope' is not a field of <top level>; valid keys are \['name', 'prune'"):
        config.replace_path(cfg, "nope", 1)
    with pytest.raises(ValueError, match="'name' is a str, not a nested config"):
        config.replace_path(cfg, "name.x", 1)
    with pytest.raises(ValueError, match=r"'prune.amount': value 'x' \(str\) is not a valid float"):
        config.replace_path(cfg, "prune.amount", "x")
    with pytest.raises(ValueError, match="malformed config key 'prune..amount'"):
        config.replace_path(cfg, "prune..amount", 1.0)


def test_parse_override():
    assert config.parse_override("a.b=1") == ("a.b", "1")
    assert config.parse_override("name=x=y") == ("name", "x=y")
    assert config.parse_override("name=") == ("name", "")
    for bad in ["a.b", "=1", " =1", "a..b=1", ".a=1", "a b=1"]:
        with pytest.raises(ValueError, match=f"malformed override {bad!r}"):
            config.parse_override(bad)


def test_apply_overrides_parses_by_annotation():
    cfg = config.apply_overrides(
        ExpCfg(),
        [
            "prune.count=4_096",
            "prune.amount=1e-1",
            "prune.by=count",
            "prune.levels=0.25,0.5,0.75",
            "train.epochs=7",
            "train.nesterov=TRUE",
            "train.schedule=cosine",
            "train.clip=null",
            "train.names=[a, 'b c']",
            "train.shape=(32, 16)",
            "train.ticket=2",
            "train.weights=1,2",
            "name=x=y",
        ],
    )
    assert cfg.prune == PruneCfg(amount=0.1, by="count", count=4096, levels=(0.25, 0.5, 0.75))
    assert cfg.train == TrainCfg(
        lr=0.1, epochs=7, nesterov=True, schedule="cosine", clip=None, names=("a", "b c"), shape=(32, 16), ticket=2,
        weights=(1.0, 2.0),
    )
    assert cfg.name == "x=y"
    # later overrides win; Optional -> value and back to None; bools accept 0/1
    cfg = config.apply_overrides(cfg, ["train.clip=1.5", "train.schedule=None", "train.nesterov=0", "prune.levels=[]"])
    assert cfg.train.clip == 1.5 and cfg.train.schedule is None and cfg.train.nesterov is False
    assert cfg.prune.levels == ()
    assert config.apply_overrides(ExpCfg(), ["prune.levels=[0.5]"]).prune.levels == (0.5,)
    assert config.apply_overrides(ExpCfg(), []) == ExpCfg()


@pytest.mark.parametrize(
    "override, match",
    [
        ("prune.count=1.5", r"--set prune.count=1.5: cannot parse '1.5' as int"),
        ("prune.count=", r"--set prune.count=: cannot parse '' as int"),
        ("prune.amount=abc", r"--set prune.amount=abc: cannot parse 'abc' as float"),
        ("prune.amount=inf", r"cannot parse 'inf' as float \(non-finite"),
        ("train.nesterov=yes", r"--set train.nesterov=yes: cannot parse 'yes' as bool \(expected true/false/1/0\)"),
        ("prune.by=random", r"cannot parse 'random' as Literal\['fraction', 'count'\]; allowed values are "
                            r"\['fraction', 'count'\]"),
        ("train.ticket=3", r"allowed values are \[0, 1, 2\]"),
        ("prune.levels=0.1,x", r"--set prune.levels\[1\]=x: cannot parse 'x' as float"),
        ("train.shape=1,2,3", r"cannot parse '1,2,3' as tuple\[int, int\] \(expected 2 comma-separated elements"),
        ("train.clip=big", r"--set train.clip=big: cannot parse 'big' as float \| None"),
        ("prune=1", r"'prune' is a nested config \(PruneCfg\); set one of its fields instead: \['prune.amount'"),
        ("prune.nope=1", r"unknown config key 'prune.nope': 'nope' is not a field of prune; valid keys are"),
        ("prune.amount", r"malformed override 'prune.amount': expected KEY=VALUE"),
        ("=3", r"malformed override '=3'"),
    ],
)
def test_apply_overrides_errors(override, match):
    with pytest.raises(ValueError, match=match):
        config.apply_overrides(ExpCfg(), [override])


def test_apply_overrides_rejects_a_bare_string():
    with pytest.raises(ValueError, match="got one string"):
        config.apply_overrides(ExpCfg(), "prune.count=3")


# --------------------------------------------------------------------------- non-defaults and hashing
def test_non_defaults():
    assert config.non_defaults(ExpCfg()) == {}
    assert config.non_defaults(example()) == {"prune": {"amount": 0.5, "levels": [0.1]}, "train": {"epochs": 3}}
    # relative to the parent's default instance: TrainCfg() differs from the default TrainCfg(lr=0.1) in lr
    assert config.non_defaults(ExpCfg(train=TrainCfg())) == {"train": {"lr": 0.001}}
    # fields without defaults are always present; their nested configs relative to the class defaults
    assert config.non_defaults(Required(3, PruneCfg())) == {"size": 3, "inner": {}}
    assert config.non_defaults(Required(3, PruneCfg(count=1))) == {"size": 3, "inner": {"count": 1}}


def test_canonical_json():
    s = config.canonical_json({"b": [1, 2.5, (3,)], "a": {"z": None, "y": True}, "c": 1e-3, "d": 1e20, "e": 0.1})
    assert s == '{"a":{"y":true,"z":null},"b":[1,2.5,[3]],"c":0.001,"d":1e+20,"e":0.1}'
    assert config.canonical_json({"x": np.float64(0.25), "n": np.int64(3)}) == '{"n":3,"x":0.25}'
    with pytest.raises(ValueError, match=r"non-finite float nan at a\[0\]"):
        config.canonical_json({"a": [float("nan")]})
    with pytest.raises(ValueError, match=r"non-string keys \[1\]"):
        config.canonical_json({1: 2})
    with pytest.raises(ValueError, match="set .* is not JSON-serialisable"):
        config.canonical_json({"a": {1, 2}})


def test_run_hash_is_pinned():
    cfg = example()
    text = '{"prune":{"amount":0.5,"levels":[0.1]},"train":{"epochs":3}}'
    assert config.canonical_json(config.non_defaults(cfg)) == text
    assert config.run_hash(cfg) == "104dc0a829"  # pinned: changing the hashing must fail here
    full = "104dc0a829548b73a9cc523eccbddd50"
    assert config.run_hash(cfg, length=32) == full == hashlib.md5(text.encode()).hexdigest()
    assert config.run_hash(ExpCfg()) == "99914b932b"  # md5("{}")
    assert config.run_dir_name("fmnist_rtl", cfg) == "fmnist_rtl_104dc0a829"


def test_run_hash_ignores_new_defaulted_fields_and_int_float_spelling():
    old = ExpCfg(prune=PruneCfg(amount=0.5, levels=(0.1,)), train=TrainCfg(lr=0.1, epochs=3))
    new = ExpCfgV2(prune=PruneCfgV2(amount=0.5, levels=(0.1,)), train=TrainCfg(lr=0.1, epochs=3))
    assert config.run_hash(new) == config.run_hash(old) == "104dc0a829"
    assert config.run_hash(ExpCfgV2()) == config.run_hash(ExpCfg())
    # setting the new field does change the hash
    assert config.run_hash(dataclasses.replace(new, new_flag=True)) != config.run_hash(old)
    # 1 and 1.0 in a float field compare equal, so they hash equal
    assert config.run_hash(ExpCfg(prune=PruneCfg(amount=1))) == config.run_hash(ExpCfg(prune=PruneCfg(amount=1.0)))
    # any change of a value changes the hash
    assert config.run_hash(ExpCfg(prune=PruneCfg(amount=0.5000001, levels=(0.1,)))) != config.run_hash(old)


def test_run_hash_and_dir_name_errors():
    with pytest.raises(ValueError, match="hash length must be an int in 1..32, got 0"):
        config.run_hash(ExpCfg(), length=0)
    for bad in ["", "a/b", " x"]:
        with pytest.raises(ValueError, match="run directory prefix"):
            config.run_dir_name(bad, ExpCfg())
    with pytest.raises(ValueError, match="must be a dataclass instance"):
        config.non_defaults({"a": 1})
