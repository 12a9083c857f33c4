"""In-memory image datasets, the dataset registry and small numpy preprocessing helpers.

Every loader returns a :class:`Dataset` of raw ``uint8`` images ``(N, H, W, C)`` and ``int32`` labels.
Nothing here downloads: each source reads local files and raises with instructions when they are absent.

Registered names (see :func:`dataset_names`):

* ``fashion_mnist`` -- real Fashion-MNIST, built once offline into a local TFDS (array_record) dataset
  from the IDX files of the Debian package ``dataset-fashion-mnist`` (:mod:`rtl_jax.data.fashion_mnist`).
* ``mnist``, ``cifar10``, ``cifar100`` -- TFDS datasets the user prepared under ``data_dir``
  (:mod:`rtl_jax.data.tfds_source`); CIFAR-100 carries ``extras["coarse_label"]``.
* ``cifar10_pickle``, ``cifar100_pickle`` -- CIFAR's python-pickle folders under ``data_dir``
  (:mod:`rtl_jax.data.cifar`).
* ``digits`` -- scikit-learn's bundled 8x8 digits with a fixed stratified train/test split.
"""
from __future__ import annotations

import dataclasses
import importlib
import inspect
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

#: name -> (module, function); loaders are imported lazily so that TFDS is only imported when needed.
_LOADERS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "fashion_mnist": ("rtl_jax.data.fashion_mnist", "load_fashion_mnist"),
        "mnist": ("rtl_jax.data.tfds_source", "load_mnist"),
        "cifar10": ("rtl_jax.data.tfds_source", "load_cifar10"),
        "cifar100": ("rtl_jax.data.tfds_source", "load_cifar100"),
        "cifar10_pickle": ("rtl_jax.data.cifar", "load_cifar10_pickle"),
        "cifar100_pickle": ("rtl_jax.data.cifar", "load_cifar100_pickle"),
        "digits": ("rtl_jax.data.datasets", "load_digits"),
    }
)

DIGITS_NUM_TEST = 360
DIGITS_SEED = 0
_INT32 = np.iinfo(np.int32)


# --------------------------------------------------------------------------- containers
@dataclass(frozen=True, eq=False)
class Split:
    """One split of an image dataset.

    Attributes:
      x: ``(N, H, W, C)`` ``uint8`` raw images (``C == 1`` for grey).
      y: ``(N,)`` ``int32`` labels (integer input is converted to ``int32``).
      extras: further per-example ``(N, ...)`` arrays, e.g. ``{"coarse_label": (N,) int32}`` for CIFAR-100.

    Frozen; compared by identity (``eq=False``) because arrays have no single truth value.
    Raises ``ValueError`` naming the field on a wrong dtype, rank or length.
    """

    x: np.ndarray
    y: np.ndarray
    extras: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self):
        x = self.x
        if not isinstance(x, np.ndarray):
            raise ValueError(f"Split.x must be a numpy array, got {type(x).__name__}")
        if x.dtype != np.uint8 or x.ndim != 4:
            raise ValueError(f"Split.x must be uint8 of shape (N, H, W, C), got {x.dtype} {x.shape}")
        object.__setattr__(self, "y", _as_int32(self.y, "Split.y"))
        if self.y.shape != (x.shape[0],):
            raise ValueError(f"Split.y must have shape ({x.shape[0]},) to match Split.x, got {self.y.shape}")
        extras = {}
        for key, value in dict(self.extras).items():
            value = np.asarray(value)
            if np.issubdtype(value.dtype, np.integer):
                value = _as_int32(value, f"Split.extras[{key!r}]")
            if value.ndim == 0 or value.shape[0] != x.shape[0]:
                raise ValueError(
                    f"Split.extras[{key!r}] must have leading length {x.shape[0]} to match Split.x, "
                    f"got shape {value.shape}"
                )
            extras[key] = value
        object.__setattr__(self, "extras", MappingProxyType(extras))

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def take(self, indices: np.ndarray) -> Split:
        """The examples at ``indices`` (in that order), extras included."""
        indices = np.asarray(indices)
        if indices.ndim != 1 or not (np.issubdtype(indices.dtype, np.integer) or indices.size == 0):
            raise ValueError(f"indices must be a 1-D integer array, got {indices.dtype} {indices.shape}")
        indices = indices.astype(np.int64)
        if indices.size and (indices.min() < 0 or indices.max() >= len(self)):
            raise IndexError(f"indices out of range [0, {len(self)}): min {indices.min()}, max {indices.max()}")
        return Split(self.x[indices], self.y[indices], {k: v[indices] for k, v in self.extras.items()})


@dataclass(frozen=True, eq=False)
class Dataset:
    """A named dataset with train/test splits of raw images.

    Attributes:
      name: registry name.
      train, test: the splits (same image shape).
      num_classes: number of label values; labels lie in ``[0, num_classes)``.
      class_names: one name per class.
      extra_names: class names of integer extras, e.g. ``{"coarse_label": (20 names)}`` for CIFAR-100.
    """

    name: str
    train: Split
    test: Split
    num_classes: int
    class_names: tuple[str, ...]
    extra_names: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self):
        if self.train.x.shape[1:] != self.test.x.shape[1:]:
            raise ValueError(
                f"dataset {self.name!r}: train images {self.train.x.shape[1:]} and test images "
                f"{self.test.x.shape[1:]} differ in shape"
            )
        object.__setattr__(self, "class_names", tuple(str(c) for c in self.class_names))
        if len(self.class_names) != self.num_classes:
            raise ValueError(
                f"dataset {self.name!r}: {len(self.class_names)} class names for num_classes={self.num_classes}"
            )
        for split_name, split in (("train", self.train), ("test", self.test)):
            if len(split) and (split.y.min() < 0 or split.y.max() >= self.num_classes):
                raise ValueError(
                    f"dataset {self.name!r}: {split_name} labels span [{split.y.min()}, {split.y.max()}], "
                    f"outside [0, {self.num_classes})"
                )
        names = {k: tuple(str(n) for n in v) for k, v in dict(self.extra_names).items()}
        object.__setattr__(self, "extra_names", MappingProxyType(names))

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """One image's shape ``(H, W, C)``."""
        return tuple(int(s) for s in self.train.x.shape[1:])


def _as_int32(values, what: str) -> np.ndarray:
    """``values`` as an ``int32`` array; ``ValueError`` for non-integers or values outside int32."""
    values = np.asarray(values)
    if values.size == 0 and values.dtype != np.int32:
        return values.astype(np.int32)
    if not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"{what} must hold integers, got dtype {values.dtype}")
    if values.dtype != np.int32:
        if values.size and (values.min() < _INT32.min or values.max() > _INT32.max):
            raise ValueError(f"{what} has values outside int32: [{values.min()}, {values.max()}]")
        values = values.astype(np.int32)
    return values


# --------------------------------------------------------------------------- registry
def dataset_names() -> list[str]:
    """All names :func:`load_dataset` accepts, sorted."""
    return sorted(_LOADERS)


def _loader(name: str) -> Callable[..., Dataset]:
    if name not in _LOADERS:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(dataset_names())}")
    module, function = _LOADERS[name]
    return getattr(importlib.import_module(module), function)


def load_dataset(name: str, *, data_dir: str | os.PathLike, **kw) -> Dataset:
    """Load dataset ``name`` from local files under ``data_dir`` (never downloads).

    ``kw`` are passed to the dataset's loader (e.g. ``idx_dir`` for ``fashion_mnist``, ``num_test`` and
    ``seed`` for ``digits``). Raises ``ValueError`` for an unknown name or an option the loader does not
    take, and the loader's ``FileNotFoundError`` (with instructions) when the data are not there.
    """
    loader = _loader(name)
    params = inspect.signature(loader).parameters
    unknown = sorted(set(kw) - (set(params) - {"data_dir"}))
    if unknown:
        allowed = sorted(set(params) - {"data_dir"})
        raise ValueError(f"dataset {name!r} takes no option(s) {unknown}; its options are {allowed}")
    return loader(data_dir=data_dir, **kw)


# --------------------------------------------------------------------------- digits
def load_digits(
    data_dir: str | os.PathLike | None = None, *, num_test: int = DIGITS_NUM_TEST, seed: int = DIGITS_SEED
) -> Dataset:
    """scikit-learn's bundled UCI digits: 1,797 grey 8x8 images, 10 classes (``data_dir`` is not used).

    Pixel values 0..16 are scaled to ``uint8`` 0..255 (``round(v * 255 / 16)``). The train/test split
    is stratified and deterministic in ``seed``: each class gives ``num_test`` * (its share) test examples
    (largest-remainder rounding, so exactly ``num_test`` in total; default 1,437 train / 360 test). Both
    splits keep the original example order.
    """
    del data_dir  # bundled with scikit-learn
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    images = np.asarray(bunch.images)
    x = np.round(images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    y = np.asarray(bunch.target, np.int32)
    test_idx = stratified_test_indices(y, num_test, seed)
    is_test = np.zeros(len(y), bool)
    is_test[test_idx] = True
    return Dataset(
        name="digits",
        train=Split(x[~is_test], y[~is_test]),
        test=Split(x[is_test], y[is_test]),
        num_classes=10,
        class_names=tuple(str(d) for d in range(10)),
    )


def stratified_test_indices(labels: np.ndarray, num_test: int, seed: int) -> np.ndarray:
    """Sorted indices of a stratified sample of ``num_test`` examples, deterministic in ``seed``.

    Class ``c`` contributes ``num_test * n_c / N`` examples rounded by largest remainder (ties to the
    smaller class id), so the total is exactly ``num_test``. Raises ``ValueError`` when ``num_test`` is
    not in ``[0, N]``.
    """
    labels = np.asarray(labels)
    n = len(labels)
    if not 0 <= num_test <= n:
        raise ValueError(f"num_test must be in [0, {n}], got {num_test}")
    classes, counts = np.unique(labels, return_counts=True)
    quota = counts * num_test / n
    take = np.floor(quota).astype(np.int64)
    remainder_order = np.lexsort((classes, -(quota - take)))  # largest remainder first, then class id
    take[remainder_order[: num_test - int(take.sum())]] += 1
    rng = np.random.default_rng([0x5EED, int(seed)])
    chosen = [rng.permutation(np.flatnonzero(labels == c))[:t] for c, t in zip(classes, take, strict=True)]
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, np.int64)


# --------------------------------------------------------------------------- preprocessing
def channel_stats(split: Split | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and (population) std of ``x / 255`` over all images, as ``float32`` ``(C,)``.

    Computed from exact integer sums, so the result does not depend on chunking or float accumulation.
    Raises ``ValueError`` for an empty split or non-``uint8`` images.
    """
    x = split.x if isinstance(split, Split) else np.asarray(split)
    if x.dtype != np.uint8 or x.ndim < 2:
        raise ValueError(f"channel_stats needs uint8 images (..., C), got {x.dtype} {x.shape}")
    if x.size == 0:
        raise ValueError("channel_stats of an empty split is undefined")
    flat = x.reshape(-1, x.shape[-1])
    total = np.zeros(flat.shape[1], np.uint64)
    total_sq = np.zeros(flat.shape[1], np.uint64)
    chunk = 1 << 20
    for lo in range(0, flat.shape[0], chunk):
        part = flat[lo : lo + chunk].astype(np.uint64)
        total += part.sum(0)
        total_sq += (part * part).sum(0)
    count = float(flat.shape[0])
    mean = total.astype(np.float64) / (count * 255.0)
    var = total_sq.astype(np.float64) / (count * 255.0**2) - mean**2
    return mean.astype(np.float32), np.sqrt(np.maximum(var, 0.0)).astype(np.float32)


def standardize(x_uint8: np.ndarray, mean, std) -> np.ndarray:
    """``(x / 255 - mean) / std`` per channel (last axis), as ``float32``.

    ``mean``/``std`` are scalars or ``(C,)``. Raises ``ValueError`` for non-``uint8`` input, a channel
    count mismatch or a non-positive std.
    """
    x_uint8 = np.asarray(x_uint8)
    if x_uint8.dtype != np.uint8:
        raise ValueError(f"standardize expects uint8 images, got {x_uint8.dtype}")
    mean = np.asarray(mean, np.float32)
    std = np.asarray(std, np.float32)
    channels = x_uint8.shape[-1] if x_uint8.ndim else 1
    for what, v in (("mean", mean), ("std", std)):
        if v.ndim > 1 or (v.ndim == 1 and v.shape[0] != channels):
            raise ValueError(f"{what} must be a scalar or have shape ({channels},), got shape {v.shape}")
    if np.any(std <= 0):
        raise ValueError(f"std must be positive, got {std}")
    return ((x_uint8.astype(np.float32) / np.float32(255.0) - mean) / std).astype(np.float32)


def subsample_per_class(split: Split, n_per_class: int, seed: int) -> Split:
    """Keep ``n_per_class`` random examples of every class present in ``split`` (for quick configs).

    Deterministic in ``seed``; the kept examples stay in their original order. Raises ``ValueError``
    when ``n_per_class < 1`` or some class has fewer than ``n_per_class`` examples.
    """
    if n_per_class < 1:
        raise ValueError(f"n_per_class must be >= 1, got {n_per_class}")
    classes, counts = np.unique(split.y, return_counts=True)
    short = {int(c): int(n) for c, n in zip(classes, counts, strict=True) if n < n_per_class}
    if short:
        raise ValueError(f"n_per_class={n_per_class} but these classes have fewer examples: {short}")
    rng = np.random.default_rng([0x5AB5, int(seed)])
    keep = [rng.permutation(np.flatnonzero(split.y == c))[:n_per_class] for c in classes]
    return split.take(np.sort(np.concatenate(keep)))


def replace_split(dataset: Dataset, *, train: Split | None = None, test: Split | None = None) -> Dataset:
    """A copy of ``dataset`` with the given split(s) replaced (e.g. after :func:`subsample_per_class`)."""
    changes = {k: v for k, v in (("train", train), ("test", test)) if v is not None}
    return dataclasses.replace(dataset, **changes)
