"""TFDS datasets prepared under a local ``data_dir``, read without TensorFlow through ``tfds.data_source``.

Only ``array_record`` datasets that already exist on disk are read. The prepared directory is checked
*before* TFDS is asked for anything, and ``download=False`` is always passed, so no code path here can
start a download (an offline TFDS download does not fail fast: it retries for minutes).

Preparing ``mnist``/``cifar10``/``cifar100`` needs a machine with internet **and TensorFlow** (TFDS's
registered builders encode PNG images with TensorFlow); see :func:`not_prepared_message`. For CIFAR,
the python-pickle folders (``cifar10_pickle``/``cifar100_pickle``) are an alternative without TFDS.
"""
from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rtl_jax.data.datasets import Dataset, Split

#: Number of examples requested per ``__getitems__`` call when reading a whole split.
READ_CHUNK = 8192
_VERSION_RE = re.compile(r"^\d+\.\d+\.\d+$")


def not_prepared_message(name: str, data_dir: str | os.PathLike) -> str:
    """Instructions for preparing TFDS dataset ``name`` into ``data_dir`` (used in error messages)."""
    lines = [
        f"TFDS dataset {name!r} is not prepared under data_dir {str(data_dir)!r} (expected "
        f"{str(Path(data_dir) / name)}/<version>/dataset_info.json with array_record files). "
        "rtl_jax never downloads data. On a machine with internet, TensorFlow and tensorflow-datasets "
        "(TFDS's image builders need TensorFlow to prepare), run:",
        "  pip install tensorflow tensorflow-datasets",
        f"  python -c \"import tensorflow_datasets as tfds; tfds.builder('{name}', data_dir='DIR')"
        ".download_and_prepare(file_format='array_record')\"",
        f"then copy DIR/{name} to {str(Path(data_dir) / name)}.",
    ]
    if name in ("cifar10", "cifar100"):
        archive = "cifar-10-python.tar.gz" if name == "cifar10" else "cifar-100-python.tar.gz"
        lines.append(
            f"Alternative without TFDS: extract {archive} from https://www.cs.toronto.edu/~kriz/cifar.html "
            f"into {str(data_dir)!r} and load dataset {name + '_pickle'!r}."
        )
    return "\n".join(lines)


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def prepared_version(name: str, data_dir: str | os.PathLike) -> str:
    """The newest version of TFDS dataset ``name`` prepared in array_record format under ``data_dir``.

    A version counts as prepared when ``data_dir/name/<x.y.z>/dataset_info.json`` exists. Raises
    ``FileNotFoundError`` (with :func:`not_prepared_message`) when there is none, and ``ValueError``
    when the newest one holds no ``array_record`` files (prepared in another file format).
    """
    root = Path(data_dir) / name
    versions = []
    if root.is_dir():
        versions = [
            p.name for p in root.iterdir() if _VERSION_RE.match(p.name) and (p / "dataset_info.json").is_file()
        ]
    if not versions:
        raise FileNotFoundError(not_prepared_message(name, data_dir))
    version = max(versions, key=_version_key)
    if not any((root / version).glob(f"{name}-*.array_record*")):
        raise ValueError(
            f"TFDS dataset {name!r} at {str(root / version)!r} has no array_record files; tfds.data_source "
            "needs them. Prepare it again with download_and_prepare(file_format='array_record').\n"
            + not_prepared_message(name, data_dir)
        )
    return version


def iter_chunks(source, *, chunk_size: int = READ_CHUNK):
    """Yield the examples of a TFDS data source as lists of ``chunk_size`` (``__getitems__`` calls).

    Reading in chunks is several times faster than one ``source[i]`` call per example. Raises
    ``ValueError`` for an empty source or a non-positive ``chunk_size``.
    """
    n = len(source)
    if n == 0:
        raise ValueError("the TFDS data source is empty")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    for lo in range(0, n, chunk_size):
        yield source.__getitems__(list(range(lo, min(lo + chunk_size, n))))


def read_data_source(source, keys: Sequence[str], *, chunk_size: int = READ_CHUNK) -> dict[str, np.ndarray]:
    """Read every example of a TFDS data source and stack the features ``keys`` into numpy arrays.

    Raises ``ValueError`` for an empty source and ``KeyError`` naming a missing feature.
    """
    parts: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    for items in iter_chunks(source, chunk_size=chunk_size):
        for key in keys:
            if key not in items[0]:
                raise KeyError(f"feature {key!r} not in the data source; it has {sorted(items[0])}")
            parts[key].append(np.stack([np.asarray(item[key]) for item in items]))
    return {k: np.concatenate(v) for k, v in parts.items()}


def split_from_source(
    source, *, image_key: str = "image", label_key: str = "label", extra_keys: Sequence[str] = ()
) -> Split:
    """A :class:`Split` from a TFDS data source: ``uint8`` images, ``int32`` labels, integer extras."""
    arrays = read_data_source(source, (image_key, label_key, *extra_keys))
    x = arrays[image_key]
    if x.dtype != np.uint8:
        raise ValueError(f"feature {image_key!r} must be uint8 images, got {x.dtype}")
    if x.ndim == 3:
        x = x[..., None]
    return Split(x, arrays[label_key], {k: arrays[k] for k in extra_keys})


def _class_names(features, key: str) -> tuple[str, ...]:
    feature = features[key]
    names = getattr(feature, "names", None)
    if not names:
        raise ValueError(f"feature {key!r} is not a ClassLabel with names: {feature}")
    return tuple(names)


def load_tfds_dataset(
    name: str,
    *,
    data_dir: str | os.PathLike,
    extra_keys: Sequence[str] = (),
    splits: tuple[str, str] = ("train", "test"),
) -> Dataset:
    """Load prepared TFDS dataset ``name`` (train and test splits) from ``data_dir`` without TensorFlow.

    Checks the prepared directory first (:func:`prepared_version`), then reads it with
    ``tfds.data_source(name:version, split=..., data_dir=..., download=False)``. ``extra_keys`` are
    further integer ClassLabel features kept as :attr:`Split.extras` (with their class names).
    """
    version = prepared_version(name, data_dir)
    import tensorflow_datasets as tfds

    sources = [
        tfds.data_source(f"{name}:{version}", split=s, data_dir=os.fspath(data_dir), download=False) for s in splits
    ]
    features = sources[0].dataset_info.features
    train, test = (split_from_source(src, extra_keys=extra_keys) for src in sources)
    return Dataset(
        name=name,
        train=train,
        test=test,
        num_classes=int(features["label"].num_classes),
        class_names=_class_names(features, "label"),
        extra_names={k: _class_names(features, k) for k in extra_keys},
    )


def load_mnist(data_dir: str | os.PathLike) -> Dataset:
    """TFDS ``mnist`` prepared under ``data_dir`` (28x28x1, 10 classes)."""
    return load_tfds_dataset("mnist", data_dir=data_dir)


def load_cifar10(data_dir: str | os.PathLike) -> Dataset:
    """TFDS ``cifar10`` prepared under ``data_dir`` (32x32x3, 10 classes)."""
    return load_tfds_dataset("cifar10", data_dir=data_dir)


def load_cifar100(data_dir: str | os.PathLike) -> Dataset:
    """TFDS ``cifar100`` prepared under ``data_dir``: 100 fine labels, ``extras["coarse_label"]`` (20)."""
    return load_tfds_dataset("cifar100", data_dir=data_dir, extra_keys=("coarse_label",))
