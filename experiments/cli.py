"""The common command line of every experiment module.

Every experiment module builds its parser with :func:`build_parser`, picks its config with
:func:`resolve_config` and stores results under :func:`run_directory`::

    parser = build_parser("RTL on Fashion-MNIST")
    args = parser.parse_args(argv)
    cfg = resolve_config(args, full=full_config, quick=quick_config)
    if args.print_config:
        print(config_json(cfg)); return
    run_dir = init_run_directory(args.workdir, "fmnist_rtl", cfg)
    for seed in seeds(args): ...

Run directories are content-addressed by the hash of the config's non-default fields (relative to the
dataclass defaults), so the full and the quick config of one experiment get different directories, and
``--set`` overrides get their own.
"""
from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import rtl_jax
from rtl_jax import checkpoint as ckpt
from rtl_jax import config as config_lib
from rtl_jax import progress as progress_lib

Cfg = TypeVar("Cfg")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return value


def build_parser(description: str) -> argparse.ArgumentParser:
    """The shared argument parser: ``--quick``, ``--set KEY=VALUE`` (repeatable), ``--workdir DIR``
    (default ``runs``), ``--seeds N`` (default 1), ``--seed S`` (first seed, default 0),
    ``--print-config`` and ``--no-progress``. Experiments may add their own arguments."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="use the small quick configuration (CI-sized)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field by its dotted key, e.g. --set prune.amount=0.2 (repeatable)",
    )
    parser.add_argument("--workdir", default="runs", help="root directory of run directories (default: runs)")
    parser.add_argument("--seeds", type=_positive_int, default=1, help="number of seeds to run (default: 1)")
    parser.add_argument("--seed", type=_non_negative_int, default=0, help="first seed (default: 0)")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and its hash, then exit")
    parser.add_argument("--no-progress", action="store_true", help="disable progress bars (sets RTL_PROGRESS=0)")
    return parser


def resolve_config(args: argparse.Namespace, *, full: Callable[[], Cfg], quick: Callable[[], Cfg]) -> Cfg:
    """The quick or full config (by ``args.quick``) with the ``--set`` overrides applied in order.

    Override errors propagate as ``ValueError`` naming the key, the value and the expected type.
    ``--no-progress`` takes effect here: it sets ``RTL_PROGRESS=0`` for this process.
    """
    cfg = quick() if args.quick else full()
    if getattr(args, "no_progress", False):
        os.environ[progress_lib.ENV_VAR] = "0"
    return config_lib.apply_overrides(cfg, list(args.overrides or []))


def seeds(args: argparse.Namespace) -> list[int]:
    """The seeds to run: ``[args.seed, ..., args.seed + args.seeds - 1]``."""
    return list(range(args.seed, args.seed + args.seeds))


def run_directory(workdir: str | os.PathLike, experiment: str, cfg: Any) -> Path:
    """``workdir / run_dir_name(experiment, cfg)`` (not created)."""
    return Path(workdir) / config_lib.run_dir_name(experiment, cfg)


def config_record(experiment: str, cfg: Any) -> dict:
    """What a run directory's ``config.json`` holds: experiment, config class, hash, full config,
    the non-default fields that were hashed, and the library version."""
    return {
        "experiment": experiment,
        "config_class": f"{type(cfg).__module__}.{type(cfg).__qualname__}",
        "run_hash": config_lib.run_hash(cfg),
        "non_defaults": config_lib.non_defaults(cfg),
        "config": config_lib.to_dict(cfg),
        "rtl_jax_version": rtl_jax.__version__,
    }


def config_json(cfg: Any, experiment: str = "") -> str:
    """Indented JSON of :func:`config_record` (for ``--print-config``)."""
    return json.dumps(config_record(experiment, cfg), indent=2)


def init_run_directory(workdir: str | os.PathLike, experiment: str, cfg: Any) -> Path:
    """Create the run directory and write its ``config.json`` (atomically), or check an existing one.

    An existing ``config.json`` whose hashed non-defaults differ from ``cfg``'s (a hash collision or a
    hand-edited directory) raises ``ValueError`` instead of mixing two configs in one directory.
    """
    run_dir = run_directory(workdir, experiment, cfg)
    record = config_record(experiment, cfg)
    path = run_dir / "config.json"
    if path.exists():
        old = ckpt.read_json(path)
        if old.get("non_defaults") != record["non_defaults"] or old.get("experiment") != experiment:
            raise ValueError(
                f"{path} belongs to a different config: experiment {old.get('experiment')!r} with non-defaults "
                f"{old.get('non_defaults')!r}, expected {experiment!r} with {record['non_defaults']!r}"
            )
        return run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt.write_json_atomic(path, record)
    return run_dir
