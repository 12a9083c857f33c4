"""Checkpoints: the only module of rtl_jax that touches Orbax (orbax-checkpoint 0.12.8).

* :func:`save_tree` / :func:`restore_tree` / :func:`exists`: one pytree in one directory
  (``ocp.StandardCheckpointer``). Orbax writes into a temporary directory and renames it when the save
  is complete, so a directory that :func:`exists` reports is always a finished checkpoint, also after a
  process was killed mid-save.
* :func:`save_masks` / :func:`load_masks`: (stacked) bool masks bit-packed to 1 bit per weight per
  ticket (:func:`rtl_jax.masks.pack`), with the mask shapes recorded so loading checks them exactly.
* :class:`TrainCheckpointer`: resumable training state in a directory of numbered steps
  (``ocp.CheckpointManager``), usable across processes (kill and restart).
* :func:`write_json_atomic` / :func:`write_text_atomic` / :func:`read_json`: small files written via a
  temporary file and ``os.replace``.

Restores validate the on-disk tree against the target (paths, shapes, dtypes) before reading, and
every Orbax/TensorStore failure on read is re-raised as :class:`CheckpointError` naming the path.
Supported leaves: ``jax.Array``, ``np.ndarray``, numpy scalars (restored as 0-d ``np.ndarray``),
Python ``int``/``float``/``bool``. Typed PRNG keys should be stored as ``jax.random.key_data``.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from rtl_jax import masks as masks_lib
from rtl_jax import tree as tree_lib

PyTree = Any

_FINISHED_MARKER = "_CHECKPOINT_METADATA"  # written by Orbax into a checkpoint as it is finalised
_TMP_SUFFIX = ".orbax-checkpoint-tmp"
_MASK_META_KEY = "rtl_jax_masks"


class CheckpointError(RuntimeError):
    """A checkpoint is corrupt, unreadable or does not match the requested target; names the path."""


# --------------------------------------------------------------------------- helpers
def _abs_path(path: str | os.PathLike) -> Path:
    if not isinstance(path, (str, os.PathLike)) or str(path) == "":
        raise ValueError(f"checkpoint path must be a non-empty str or PathLike, got {path!r}")
    return Path(path).expanduser().absolute()


def _check_leaves(tree: PyTree, where: Path) -> None:
    """Raise ``ValueError`` naming the first leaf Orbax cannot store."""
    leaves = tree_lib.flatten_with_paths(tree)
    if not leaves:
        raise ValueError(f"refusing to save an empty tree (no array leaves) to {where}")
    if jax.tree.structure(tree).num_nodes == 1:
        raise ValueError(f"save_tree needs a container (dict, dataclass, ...) of arrays, got a bare leaf for {where}")
    for path, leaf in leaves:
        if isinstance(leaf, (jax.Array, np.ndarray, np.generic, int, float)):
            if isinstance(leaf, jax.Array) and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
                raise ValueError(f"leaf {path!r} is a typed PRNG key; save jax.random.key_data(key) instead ({where})")
            continue
        raise ValueError(f"leaf {path!r} has unsupported type {type(leaf).__name__} for checkpoint {where}")


def _abstract_leaf(x: Any) -> Any:
    """An Orbax restore target for one ``like`` leaf."""
    if isinstance(x, jax.ShapeDtypeStruct):
        return x
    if isinstance(x, (bool, int, float)):
        return x
    if isinstance(x, np.generic):
        x = np.asarray(x)
    if isinstance(x, (jax.Array, np.ndarray)):
        return ocp.utils.to_shape_dtype_struct(x)
    raise ValueError(f"cannot use a {type(x).__name__} as a restore target leaf")


def _abstract_tree(like: PyTree) -> PyTree:
    try:
        return jax.tree.map(_abstract_leaf, like)
    except ValueError as e:
        bad = [p for p, leaf in tree_lib.flatten_with_paths(like) if not _is_target_leaf(leaf)]
        raise ValueError(f"{e}; offending leaves: {bad}") from None


def _short(e: BaseException, limit: int = 400) -> str:
    """``"Type: message"`` of an Orbax/TensorStore error, cut to ``limit`` chars (the cause stays chained)."""
    text = f"{type(e).__name__}: {e}"
    return text if len(text) <= limit else text[:limit] + " ..."


def _is_target_leaf(x: Any) -> bool:
    return isinstance(x, (jax.ShapeDtypeStruct, bool, int, float, np.generic, jax.Array, np.ndarray))


def _leaf_signature(x: Any) -> tuple[tuple[int, ...], np.dtype | None]:
    """(shape, dtype) of a target leaf or an Orbax metadata leaf (dtype ``None`` for Python scalars)."""
    if isinstance(x, (bool, int, float)):
        return (), None
    return tuple(x.shape), np.dtype(x.dtype)


def _tree_metadata(item_metadata: Any, where: str) -> PyTree:
    """The per-leaf metadata tree of a checkpoint; Orbax gives ``None`` when it cannot read it."""
    tree = getattr(item_metadata, "tree", None)
    if tree is None:
        raise CheckpointError(f"cannot read the tree metadata of checkpoint {where} (corrupt, or not a pytree)")
    return tree


def _validate_against_metadata(meta_tree: PyTree, target: PyTree, where: str) -> None:
    """Compare on-disk metadata with a restore target: same leaf paths, shapes and dtypes."""
    on_disk = dict(tree_lib.flatten_with_paths(meta_tree))
    wanted = dict(tree_lib.flatten_with_paths(target))
    missing = sorted(set(wanted) - set(on_disk))
    extra = sorted(set(on_disk) - set(wanted))
    if missing or extra:
        raise CheckpointError(
            f"checkpoint {where} does not match the restore target: leaves missing on disk {missing}, "
            f"leaves on disk not in the target {extra}"
        )
    problems = []
    for path, tgt in wanted.items():
        (t_shape, t_dtype), (d_shape, d_dtype) = _leaf_signature(tgt), _leaf_signature(on_disk[path])
        if t_shape != d_shape or (t_dtype is not None and d_dtype is not None and t_dtype != d_dtype):
            problems.append(f"{path!r}: on disk {d_shape} {d_dtype}, target {t_shape} {t_dtype}")
    if problems:
        raise CheckpointError(f"checkpoint {where} does not match the restore target: " + "; ".join(problems))


# --------------------------------------------------------------------------- single trees
def exists(path: str | os.PathLike) -> bool:
    """Whether a *finished* checkpoint is at ``path`` (Orbax finalises atomically by renaming)."""
    p = _abs_path(path)
    return p.is_dir() and _TMP_SUFFIX not in p.name and (p / _FINISHED_MARKER).is_file()


def save_tree(
    path: str | os.PathLike, tree: PyTree, *, overwrite: bool = False, metadata: dict | None = None
) -> None:
    """Save a pytree to directory ``path`` and wait until it is fully written.

    Refuses (``FileExistsError``) to replace a finished checkpoint, or any other existing file or
    directory at ``path``, unless ``overwrite=True``. ``metadata`` is an optional JSON-able dict stored
    with the checkpoint (see :func:`read_metadata`).
    """
    p = _abs_path(path)
    _check_leaves(tree, p)
    if p.exists() and not overwrite:
        what = "a finished checkpoint" if exists(p) else "something that is not a finished checkpoint"
        raise FileExistsError(f"refusing to overwrite {what} at {p} (pass overwrite=True)")
    p.parent.mkdir(parents=True, exist_ok=True)
    with ocp.StandardCheckpointer() as ck:
        ck.save(p, tree, force=overwrite, custom_metadata=metadata)
        ck.wait_until_finished()


def _require_finished(p: Path) -> None:
    if not p.exists():
        raise FileNotFoundError(f"no checkpoint at {p}")
    if not exists(p):
        raise CheckpointError(f"{p} exists but is not a finished checkpoint (missing {_FINISHED_MARKER})")


def read_metadata(path: str | os.PathLike) -> dict:
    """The ``metadata`` dict given to :func:`save_tree` (``{}`` when none was given)."""
    p = _abs_path(path)
    _require_finished(p)
    try:
        with ocp.StandardCheckpointer() as ck:
            meta = ck.metadata(p)
    except Exception as e:  # noqa: BLE001 - Orbax/TensorStore raise many types; report them uniformly
        raise CheckpointError(f"cannot read the metadata of checkpoint {p}: {_short(e)}") from e
    return dict(meta.custom_metadata or {})


def restore_tree(path: str | os.PathLike, like: PyTree | None = None) -> PyTree:
    """Restore the pytree saved at ``path``.

    ``like`` is the target: a concrete tree or a ``jax.ShapeDtypeStruct`` tree (e.g.
    ``jax.tree.map(ocp.utils.to_shape_dtype_struct, x)``, carrying the current shardings). The on-disk
    leaves must match it exactly in paths, shapes and dtypes. Without ``like`` Orbax's own container
    types (dicts/lists) are returned.

    Raises ``FileNotFoundError`` when nothing is at ``path`` and :class:`CheckpointError` when the
    checkpoint is unfinished, corrupt or mismatched.
    """
    p = _abs_path(path)
    _require_finished(p)
    target = None if like is None else _abstract_tree(like)
    try:
        with ocp.StandardCheckpointer() as ck:
            if target is not None:
                _validate_against_metadata(_tree_metadata(ck.metadata(p).item_metadata, str(p)), target, str(p))
            return ck.restore(p, target)
    except CheckpointError:
        raise
    except Exception as e:  # noqa: BLE001 - Orbax/TensorStore raise many types; report them uniformly
        raise CheckpointError(f"cannot restore checkpoint {p}: {_short(e)}") from e


# --------------------------------------------------------------------------- masks
def _mask_shapes(mask: PyTree, stacked: bool) -> dict[str, list[int]]:
    shapes = {}
    k = None
    for path, m in tree_lib.flatten_with_paths(mask):
        dtype = np.dtype(getattr(m, "dtype", type(m)))
        if dtype != np.bool_:
            raise ValueError(f"mask leaf {path!r} has dtype {dtype}, expected bool")
        shape = tuple(np.shape(m))
        if stacked:
            if len(shape) < 1:
                raise ValueError(f"stacked mask leaf {path!r} has shape {shape}; expected a leading ticket axis")
            if k is None:
                k = shape[0]
            elif shape[0] != k:
                raise ValueError(f"stacked mask leaf {path!r} has {shape[0]} tickets, other leaves {k}")
        shapes[path] = list(shape)
    if not shapes:
        raise ValueError("refusing to save an empty mask (no leaves)")
    return shapes


def save_masks(path: str | os.PathLike, mask: PyTree, *, stacked: bool, overwrite: bool = False) -> None:
    """Save a bool mask (``stacked=True``: ticket axis 0) bit-packed, 1 bit per weight per ticket."""
    shapes = _mask_shapes(mask, stacked)
    packed = masks_lib.pack(mask, stacked=stacked)
    meta = {_MASK_META_KEY: {"stacked": bool(stacked), "shapes": shapes}}
    save_tree(path, packed, overwrite=overwrite, metadata=meta)


def load_masks(path: str | os.PathLike, like_params: PyTree, *, stacked: bool) -> PyTree:
    """Load masks saved by :func:`save_masks`; exact ``bool`` arrays with ``like_params``' structure.

    ``like_params`` gives the param shapes (arrays or ``ShapeDtypeStruct``); the stored mask shapes (for
    stacked masks without the ticket axis) must equal them, and ``stacked`` must match how the masks
    were saved. Mismatches raise :class:`CheckpointError`.
    """
    p = _abs_path(path)
    meta = read_metadata(p).get(_MASK_META_KEY)
    if not isinstance(meta, dict) or "shapes" not in meta or "stacked" not in meta:
        raise CheckpointError(f"checkpoint {p} holds no masks saved by save_masks (no {_MASK_META_KEY!r} metadata)")
    if bool(meta["stacked"]) != bool(stacked):
        raise CheckpointError(f"masks at {p} were saved with stacked={meta['stacked']}, loading with stacked={stacked}")
    stored = {k: tuple(v) for k, v in meta["shapes"].items()}
    wanted = {path_: tuple(np.shape(leaf)) for path_, leaf in tree_lib.flatten_with_paths(like_params)}
    if set(stored) != set(wanted):
        raise CheckpointError(
            f"masks at {p} do not match the params: only in the checkpoint {sorted(set(stored) - set(wanted))}, "
            f"only in the params {sorted(set(wanted) - set(stored))}"
        )
    num = None
    for leaf_path, shape in wanted.items():
        got = stored[leaf_path]
        param_shape = got[1:] if stacked else got
        if param_shape != shape:
            raise CheckpointError(f"mask leaf {leaf_path!r} at {p} has shape {got}, params have {shape}")
        if stacked:
            num = got[0]

    def target(leaf_path: str, _leaf: Any) -> jax.ShapeDtypeStruct:
        n = int(np.prod(wanted[leaf_path]))
        shape = (num, (n + 7) // 8) if stacked else ((n + 7) // 8,)
        return jax.ShapeDtypeStruct(shape, np.uint8)

    packed = restore_tree(p, tree_lib.map_with_path(target, like_params))
    try:
        return masks_lib.unpack(packed, like_params, stacked=stacked)
    except ValueError as e:
        raise CheckpointError(f"cannot unpack masks at {p}: {e}") from e


# --------------------------------------------------------------------------- training state
class TrainCheckpointer:
    """Resumable training state in ``directory/<step>/`` (``ocp.CheckpointManager``).

    Keeps the newest ``max_to_keep`` steps. Every :meth:`save` waits until the step is finalised, so a
    process killed right after ``save`` returns loses nothing, and a fresh instance (another process)
    sees the same steps. Leftover temporary directories of interrupted saves are removed on open.
    """

    def __init__(self, directory: str | os.PathLike, max_to_keep: int = 2):
        if not isinstance(max_to_keep, int) or isinstance(max_to_keep, bool) or max_to_keep < 1:
            raise ValueError(f"max_to_keep must be a positive int, got {max_to_keep!r}")
        self.directory = _abs_path(directory)
        if self.directory.exists() and not self.directory.is_dir():
            raise NotADirectoryError(f"checkpoint directory {self.directory} is a file")
        options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True, cleanup_tmp_directories=True)
        self._manager = ocp.CheckpointManager(
            self.directory, options=options, item_handlers=ocp.StandardCheckpointHandler()
        )

    def __enter__(self) -> TrainCheckpointer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def all_steps(self) -> list[int]:
        """Finished steps on disk, ascending."""
        return sorted(int(s) for s in self._manager.all_steps())

    def latest_step(self) -> int | None:
        """The newest finished step, or ``None`` when there is none."""
        steps = self.all_steps()
        return steps[-1] if steps else None

    def save(self, step: int, state: PyTree) -> None:
        """Save ``state`` as ``step`` (must be newer than every saved step) and wait until finished."""
        if not isinstance(step, (int, np.integer)) or isinstance(step, bool) or step < 0:
            raise ValueError(f"step must be a non-negative int, got {step!r}")
        step = int(step)
        latest = self.latest_step()
        if latest is not None and step == latest:
            raise FileExistsError(f"step {step} already exists in {self.directory}")
        if latest is not None and step < latest:
            raise ValueError(f"step {step} is older than the latest saved step {latest} in {self.directory}")
        _check_leaves(state, self.directory / str(step))
        saved = self._manager.save(step, args=ocp.args.StandardSave(state))
        self._manager.wait_until_finished()
        if not saved:
            raise CheckpointError(f"Orbax declined to save step {step} in {self.directory}")

    def restore(self, step: int, like: PyTree) -> PyTree:
        """Restore ``step`` into the structure of ``like`` (concrete or ``ShapeDtypeStruct`` tree)."""
        steps = self.all_steps()
        if step not in steps:
            raise FileNotFoundError(f"no finished step {step!r} in {self.directory}; available steps: {steps}")
        target = _abstract_tree(like)
        where = f"{self.directory} step {step}"
        try:
            meta = _tree_metadata(self._manager.item_metadata(step), where)
            _validate_against_metadata(meta, target, where)
            return self._manager.restore(step, args=ocp.args.StandardRestore(target))
        except CheckpointError:
            raise
        except Exception as e:  # noqa: BLE001 - Orbax/TensorStore raise many types; report them uniformly
            raise CheckpointError(f"cannot restore checkpoint {where}: {_short(e)}") from e

    def close(self) -> None:
        """Wait for pending work and release Orbax's threads."""
        self._manager.close()


# --------------------------------------------------------------------------- small files
def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (np.ndarray, jax.Array)):
        return np.asarray(obj).tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"object of type {type(obj).__name__} is not JSON-serialisable: {obj!r}")


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` via a temporary file in the same directory and ``os.replace``."""
    p = Path(path)
    if not isinstance(text, str):
        raise ValueError(f"write_text_atomic needs a str for {p}, got {type(text).__name__}")
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p


def write_json_atomic(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON atomically. numpy/JAX arrays and scalars become lists/numbers.

    Non-finite floats and unsupported objects raise (``ValueError``/``TypeError``) before anything is
    written.
    """
    try:
        text = json.dumps(obj, indent=2, default=_json_default, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise type(e)(f"cannot write {path} as JSON: {e}") from e
    return write_text_atomic(path, text + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file; ``FileNotFoundError``/``ValueError`` name the path."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no JSON file at {p}")
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{p} is not valid JSON: {e}") from e
