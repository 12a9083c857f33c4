"""Idempotent, resumable stages (open_lth style).

A *stage* owns one directory. It is complete when its ``DONE`` marker exists; the marker is written
last, atomically (temporary file + ``os.replace``), after the stage's artifacts were saved. Running a
complete stage again skips the computation and loads the artifacts instead. A stage interrupted before
its marker is computed again from the start (``compute`` itself may resume from checkpoints it keeps
in the stage directory, e.g. with :class:`rtl_jax.checkpoint.TrainCheckpointer`), so ``save`` must
tolerate leftovers of an interrupted earlier save (e.g. ``save_tree(..., overwrite=True)``).
"""
from __future__ import annotations

import datetime
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from rtl_jax import checkpoint as ckpt

T = TypeVar("T")

DONE_FILE = "DONE"


def done_path(stage_dir: str | os.PathLike) -> Path:
    """Path of the stage's ``DONE`` marker."""
    return Path(stage_dir) / DONE_FILE


def is_done(stage_dir: str | os.PathLike) -> bool:
    """Whether the stage in ``stage_dir`` has finished (its ``DONE`` marker exists)."""
    return done_path(stage_dir).is_file()


def mark_done(stage_dir: str | os.PathLike, info: Mapping[str, Any]) -> None:
    """Write the ``DONE`` marker: JSON ``{"info": info, "finished_at": <UTC ISO time>}``, atomically."""
    if not isinstance(info, Mapping):
        raise ValueError(f"stage info must be a dict, got {type(info).__name__}: {info!r}")
    stage = Path(stage_dir)
    if stage.exists() and not stage.is_dir():
        raise NotADirectoryError(f"stage directory {stage} is a file")
    finished = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    ckpt.write_json_atomic(done_path(stage), {"info": dict(info), "finished_at": finished})


def read_done(stage_dir: str | os.PathLike) -> dict:
    """The content of the ``DONE`` marker; ``FileNotFoundError`` when the stage is not done."""
    path = done_path(stage_dir)
    if not path.is_file():
        raise FileNotFoundError(f"stage {Path(stage_dir)} is not done (no {DONE_FILE} marker at {path})")
    return ckpt.read_json(path)


def run_stage(
    stage_dir: str | os.PathLike,
    compute: Callable[[], T],
    save: Callable[[Path, T], None],
    load: Callable[[Path], T],
    *,
    info: Mapping[str, Any] | None = None,
) -> tuple[T, bool]:
    """Run a stage once: returns ``(result, skipped)``.

    When the stage is done, ``load(stage_dir)`` is returned with ``skipped=True`` and ``compute`` is not
    called. Otherwise the directory is created, ``result = compute()``, ``save(stage_dir, result)``, and
    the ``DONE`` marker (``info`` plus the compute time) is written last; returns ``(result, False)``.
    """
    stage = Path(stage_dir)
    if is_done(stage):
        return load(stage), True
    if stage.exists() and not stage.is_dir():
        raise NotADirectoryError(f"stage directory {stage} is a file")
    stage.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    result = compute()
    seconds = time.perf_counter() - start
    save(stage, result)
    mark_done(stage, {**dict(info or {}), "compute_seconds": round(seconds, 3)})
    return result, False
