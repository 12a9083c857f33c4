"""CIFAR-10 / CIFAR-100 from the official python-pickle folders (no TensorFlow, no download).

Expected layout under ``data_dir`` (as extracted from ``cifar-10-python.tar.gz`` /
``cifar-100-python.tar.gz`` of https://www.cs.toronto.edu/~kriz/cifar.html):

* ``cifar-10-batches-py/``: ``data_batch_1`` .. ``data_batch_5``, ``test_batch``, ``batches.meta``;
  batches hold ``b"data"`` ``(N, 3072)`` uint8 and ``b"labels"``; the meta file ``b"label_names"``.
* ``cifar-100-python/``: ``train``, ``test``, ``meta``; splits hold ``b"data"``, ``b"fine_labels"`` and
  ``b"coarse_labels"``; the meta file ``b"fine_label_names"`` and ``b"coarse_label_names"``.

Each 3072-byte row is one image in CHW order (1024 red, 1024 green, 1024 blue, row-major 32x32); it
is returned as HWC ``(32, 32, 3)``. The pickles are read with a restricted unpickler that only admits
numpy array reconstruction, so a tampered file cannot run code.
"""
from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import numpy as np

from rtl_jax.data.datasets import Dataset, Split

CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR100_FOLDER = "cifar-100-python"
CIFAR10_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
_ROW_BYTES = 3 * 32 * 32

_HOW_TO = (
    "Download {archive} from https://www.cs.toronto.edu/~kriz/cifar.html on a machine with internet and "
    "extract it into {data_dir} (so that {folder} exists): `tar -xzf {archive} -C {data_dir}`. "
    "rtl_jax never downloads data."
)

# (module, name) pairs a CIFAR pickle may reference: numpy array reconstruction (written by Python 2
# numpy as numpy.core.*, by numpy 2 as numpy._core.*) and codecs.encode (bytes under protocol 2).
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals numpy arrays need (``pickle.UnpicklingError`` otherwise)."""

    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"CIFAR pickle references a forbidden global {module}.{name}")
        module = module.replace("numpy.core.", "numpy._core.")  # numpy 2 warns on the numpy.core alias
        return super().find_class(module, name)


def read_cifar_pickle(path: str | os.PathLike) -> dict[bytes, object]:
    """Read one CIFAR python pickle (a dict with ``bytes`` keys) safely.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` (naming the file) when it is not
    a CIFAR pickle dict.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CIFAR pickle file not found: {str(path)!r}")
    try:
        obj = _RestrictedUnpickler(io.BytesIO(path.read_bytes()), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as e:
        raise ValueError(f"{str(path)!r} is not a readable CIFAR pickle: {e}") from e
    if not isinstance(obj, dict):
        raise ValueError(f"{str(path)!r} must hold a dict, got {type(obj).__name__}")
    return obj


def _field(batch: dict, key: bytes, path: Path):
    if key not in batch:
        raise ValueError(f"CIFAR pickle {str(path)!r} has no key {key!r}; keys: {sorted(batch)}")
    return batch[key]


def rows_to_hwc(rows: np.ndarray, *, name: str = "data") -> np.ndarray:
    """``(N, 3072)`` CHW byte rows -> ``(N, 32, 32, 3)`` ``uint8`` HWC images (contiguous)."""
    rows = np.asarray(rows)
    if rows.ndim != 2 or rows.shape[1] != _ROW_BYTES:
        raise ValueError(f"{name} must have shape (N, {_ROW_BYTES}), got {rows.shape}")
    if rows.dtype != np.uint8:
        if not np.issubdtype(rows.dtype, np.integer) or rows.min(initial=0) < 0 or rows.max(initial=0) > 255:
            raise ValueError(f"{name} must hold bytes 0..255, got dtype {rows.dtype}")
        rows = rows.astype(np.uint8)
    return np.ascontiguousarray(rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))


def _labels(batch: dict, key: bytes, path: Path, n: int, num_classes: int) -> np.ndarray:
    labels = np.asarray(_field(batch, key, path))
    if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{str(path)!r}: {key!r} must be {n} integers, got {labels.dtype} {labels.shape}")
    if n and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"{str(path)!r}: {key!r} values must lie in [0, {num_classes})")
    return labels.astype(np.int32)


def _names(meta: dict, key: bytes, path: Path, count: int) -> tuple[str, ...]:
    names = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in _field(meta, key, path))
    if len(names) != count:
        raise ValueError(f"{str(path)!r}: {key!r} has {len(names)} names, expected {count}")
    return names


def _folder(data_dir: str | os.PathLike, folder: str, files: tuple[str, ...], archive: str) -> Path:
    root = Path(data_dir) / folder
    missing = [f for f in files if not (root / f).is_file()]
    if missing:
        raise FileNotFoundError(
            f"CIFAR pickle folder {str(root)!r} is missing {missing}. "
            + _HOW_TO.format(archive=archive, data_dir=data_dir, folder=folder)
        )
    return root


def _cifar10_split(paths: list[Path]) -> Split:
    xs, ys = [], []
    for path in paths:
        batch = read_cifar_pickle(path)
        x = rows_to_hwc(_field(batch, b"data", path), name=f"{str(path)!r} b'data'")
        xs.append(x)
        ys.append(_labels(batch, b"labels", path, len(x), 10))
    return Split(np.concatenate(xs), np.concatenate(ys))


def load_cifar10_pickle(data_dir: str | os.PathLike) -> Dataset:
    """CIFAR-10 from ``data_dir/cifar-10-batches-py`` (50,000 train / 10,000 test for the real files).

    Train is ``data_batch_1..5`` in order, test is ``test_batch``. Raises ``FileNotFoundError`` with
    download instructions when files are missing and ``ValueError`` on malformed pickles.
    """
    files = (*CIFAR10_TRAIN_FILES, "test_batch", "batches.meta")
    root = _folder(data_dir, CIFAR10_FOLDER, files, "cifar-10-python.tar.gz")
    meta_path = root / "batches.meta"
    names = _names(read_cifar_pickle(meta_path), b"label_names", meta_path, 10)
    return Dataset(
        name="cifar10_pickle",
        train=_cifar10_split([root / f for f in CIFAR10_TRAIN_FILES]),
        test=_cifar10_split([root / "test_batch"]),
        num_classes=10,
        class_names=names,
    )


def _cifar100_split(path: Path) -> Split:
    batch = read_cifar_pickle(path)
    x = rows_to_hwc(_field(batch, b"data", path), name=f"{str(path)!r} b'data'")
    fine = _labels(batch, b"fine_labels", path, len(x), 100)
    coarse = _labels(batch, b"coarse_labels", path, len(x), 20)
    return Split(x, fine, {"coarse_label": coarse})


def load_cifar100_pickle(data_dir: str | os.PathLike) -> Dataset:
    """CIFAR-100 from ``data_dir/cifar-100-python`` with ``extras["coarse_label"]`` (20 superclasses).

    Labels are the 100 fine classes; ``extra_names["coarse_label"]`` holds the superclass names.
    Raises ``FileNotFoundError`` with download instructions when files are missing.
    """
    root = _folder(data_dir, CIFAR100_FOLDER, ("train", "test", "meta"), "cifar-100-python.tar.gz")
    meta_path = root / "meta"
    meta = read_cifar_pickle(meta_path)
    return Dataset(
        name="cifar100_pickle",
        train=_cifar100_split(root / "train"),
        test=_cifar100_split(root / "test"),
        num_classes=100,
        class_names=_names(meta, b"fine_label_names", meta_path, 100),
        extra_names={"coarse_label": _names(meta, b"coarse_label_names", meta_path, 20)},
    )
