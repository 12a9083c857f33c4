"""Pieces shared by the experiment modules: data loading, θ0, per-seed loops and result tables."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import jax
import numpy as np

from rtl_jax import checkpoint as ckpt_lib
from rtl_jax import masks as masks_lib
from rtl_jax.data import datasets as ds_lib
from rtl_jax.models import ModelSpec, get_model

DEFAULT_DATA_DIR = os.environ.get("RTL_DATA_DIR", "data")


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Which dataset, and how much of it (``*_per_class = 0`` means all of it)."""

    name: str = "fashion_mnist"
    train_per_class: int = 0
    test_per_class: int = 0


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Which model. ``prune_head`` applies to ``lenet_300_100``/``small_cnn``; ``depthwise_impl``
    (``"auto"``: shift-and-add on CPU, lax conv on GPU/TPU), ``first_block_residual`` and ``conv_init``
    apply to ``ghostnet_trunc`` (see :mod:`rtl_jax.models.ghostnet`)."""

    name: str = "lenet_300_100"
    prune_head: bool = True
    depthwise_impl: str = "auto"
    first_block_residual: bool = True
    conv_init: str = "fan_out"


@dataclasses.dataclass(frozen=True)
class Arrays:
    """A dataset as standardised float32 arrays in memory."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    class_names: tuple[str, ...]
    input_shape: tuple[int, ...]


def load_arrays(cfg: DataConfig, data_dir: str | os.PathLike, *, seed: int = 0) -> Arrays:
    """Load, optionally subsample per class, and standardise with the training set's channel stats."""
    ds = ds_lib.load_dataset(cfg.name, data_dir=data_dir)
    train, test = ds.train, ds.test
    if cfg.train_per_class:
        train = ds_lib.subsample_per_class(train, cfg.train_per_class, seed=seed)
    if cfg.test_per_class:
        test = ds_lib.subsample_per_class(test, cfg.test_per_class, seed=seed)
    mean, std = ds_lib.channel_stats(train)
    return Arrays(
        x_train=ds_lib.standardize(train.x, mean, std),
        y_train=np.asarray(train.y, np.int32),
        x_test=ds_lib.standardize(test.x, mean, std),
        y_test=np.asarray(test.y, np.int32),
        num_classes=ds.num_classes,
        class_names=tuple(ds.class_names),
        input_shape=tuple(train.x.shape[1:]),
    )


def build_model(cfg: ModelConfig, arrays: Arrays, **kw) -> ModelSpec:
    """The model with output size = the data's number of classes (never defaulted)."""
    kwargs = dict(kw)
    if cfg.name in ("lenet_300_100", "small_cnn"):
        kwargs.setdefault("prune_head", cfg.prune_head)
    if cfg.name == "ghostnet_trunc":
        kwargs.setdefault("depthwise_impl", cfg.depthwise_impl)
        kwargs.setdefault("first_block_residual", cfg.first_block_residual)
        kwargs.setdefault("conv_init", cfg.conv_init)
    return get_model(cfg.name, num_outputs=arrays.num_classes, input_shape=arrays.input_shape, **kwargs)


def theta0(spec: ModelSpec, seed: int, seed_dir: Path) -> dict[str, Any]:
    """θ0 for this seed, saved once under ``seed_dir/theta0`` and reused by every method."""
    path = Path(seed_dir) / "theta0"
    variables = spec.init(jax.random.key(seed))
    variables.setdefault("batch_stats", {})
    like = {"params": variables["params"], "batch_stats": variables["batch_stats"]}
    if ckpt_lib.exists(path):
        return ckpt_lib.restore_tree(path, like)
    ckpt_lib.save_tree(path, like)
    return like


def prunable_of(spec: ModelSpec, params, *, verbose: bool = False):
    return masks_lib.select_prunable(params, spec.prunable_include, spec.prunable_exclude, verbose=verbose)


def parse_args_and_config(argv, description: str, experiment: str, *, full, quick, extra_args=None):
    """The shared CLI of every experiment module.

    Returns ``(args, cfg, run_dir)``; ``run_dir`` is created (with its ``config.json``). With
    ``--print-config`` the resolved config and its hash are printed and ``(args, cfg, None)`` returned.
    Bad ``--set`` overrides end the program with a usage error that names the key and the problem.
    """
    from experiments import cli

    parser = cli.build_parser(description)
    parser.add_argument("--data-dir", default=DEFAULT_DATA_DIR,
                        help="where datasets are prepared (env RTL_DATA_DIR); not part of the run hash")
    if extra_args is not None:
        extra_args(parser)
    args = parser.parse_args(argv)
    enable_compilation_cache()
    try:
        cfg = cli.resolve_config(args, full=full, quick=quick)
    except ValueError as e:
        parser.error(str(e))
    if args.print_config:
        print(cli.config_json(cfg, experiment))
        return args, cfg, None
    return args, cfg, cli.init_run_directory(args.workdir, experiment, cfg)


def enable_compilation_cache(path: str | os.PathLike | None = None) -> None:
    """Persist XLA compilations across runs and across identical programs (e.g. joint retraining at each
    reported sparsity compiles the same step). Directory: ``path``, else ``$JAX_COMPILATION_CACHE_DIR``,
    else ``~/.cache/rtl_jax/xla``. Set ``RTL_COMPILATION_CACHE=0`` to disable."""
    if os.environ.get("RTL_COMPILATION_CACHE", "1") == "0":
        return
    d = path or os.environ.get("JAX_COMPILATION_CACHE_DIR") or os.path.expanduser("~/.cache/rtl_jax/xla")
    jax.config.update("jax_compilation_cache_dir", str(d))
