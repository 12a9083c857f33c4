"""Images with region label maps for the INR experiment (rtl-paper §7.4): one ticket per image region.

Three sources, all returning :class:`RegionImage` (RGB in ``[0, 1]`` as float32 ``[H, W, 3]`` and a label
map ``[H, W]`` of consecutive int32 region ids ``0..K-1``):

* :func:`load_skimage_image`: photographs that scikit-image ships inside its wheel (no download), see
  :data:`SKIMAGE_IMAGES`. The regions come from an **unsupervised segmentation** (:func:`segment_regions`):

  1. centre-crop to a square and downscale to ``size × size`` with anti-aliasing
     (``skimage.transform.resize``);
  2. Felzenszwalb–Huttenlocher graph segmentation (``skimage.segmentation.felzenszwalb``, ``scale``
     relative to the image area, ``sigma=0.8``) or SLIC superpixels (``method="slic"``) of the small
     image;
  3. :func:`merge_regions`: repeatedly merge the smallest region into the neighbour (4-connectivity) with
     which it shares the longest boundary, until every region holds at least ``min_fraction`` of the
     pixels and there are at most ``max_regions`` regions. This plays the role of the paper's
     "small or noisy regions join a neighbouring class". A region id may label several disconnected
     components (as a merged ADE20K category does).

  Region ids are then renumbered in raster order of first appearance (:func:`relabel_raster`), so the
  result is deterministic.
* :func:`load_image_and_labels`: any RGB image file plus a label-map file (an integer image, or ``.npy``)
  of the same height and width.
* :func:`load_ade20k`: the paper's 10 ADE20K training images (:data:`ADE20K_TRAIN_INDICES`) from TFDS
  ``scene_parse150`` **prepared** under a local ``data_dir`` (read with ``tfds.data_source``, never
  downloaded). The annotation's category ids already merge the instances of a category; category 0
  ("other") and small categories are merged into neighbours as above.
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

#: scikit-image sample photographs shipped in its wheel (readable offline).
SKIMAGE_IMAGES: tuple[str, ...] = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry")
#: The paper's ADE20K training-split indices (rtl-paper §7.4).
ADE20K_TRAIN_INDICES: tuple[int, ...] = (0, 3733, 7304, 8399, 11708, 12963, 13783, 14236, 18813, 23790)
SEGMENTATION_METHODS: tuple[str, ...] = ("felzenszwalb", "slic")


@dataclasses.dataclass(frozen=True)
class RegionImage:
    """One image and its region map. ``image``: float32 ``[H, W, 3]`` in ``[0, 1]``; ``labels``: int32
    ``[H, W]`` with every id in ``0..num_regions-1`` present."""

    name: str
    image: np.ndarray
    labels: np.ndarray

    @property
    def num_regions(self) -> int:
        return int(self.labels.max()) + 1

    def __post_init__(self):
        check_region_image(self.image, self.labels, self.name)


def check_region_image(image: np.ndarray, labels: np.ndarray, name: str) -> None:
    """Raise ``ValueError`` unless ``image`` is ``[H, W, 3]`` in ``[0, 1]`` and ``labels`` is ``[H, W]`` of
    consecutive non-negative integer ids (every id ``0..max`` used)."""
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"image {name!r}: expected [H, W, 3] RGB, got shape {image.shape}")
    if labels.shape != image.shape[:2]:
        raise ValueError(f"image {name!r}: label map shape {labels.shape} != image shape {image.shape[:2]}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"image {name!r}: labels must be integers, got dtype {labels.dtype}")
    if image.size and (image.min() < 0 or image.max() > 1):
        raise ValueError(f"image {name!r}: values must lie in [0, 1], got [{image.min()}, {image.max()}]")
    present = np.unique(labels)
    if present.size == 0 or present[0] != 0 or present[-1] != present.size - 1:
        raise ValueError(f"image {name!r}: region ids must be consecutive from 0, got {present.tolist()[:20]}")


# --------------------------------------------------------------------------- label-map utilities
def relabel_raster(labels: np.ndarray) -> np.ndarray:
    """Renumber region ids ``0..K-1`` in raster order of first appearance (int32, same shape)."""
    flat = np.asarray(labels).ravel()
    _, first = np.unique(flat, return_index=True)
    order = np.asarray(flat[np.sort(first)])
    lut = {int(v): i for i, v in enumerate(order)}
    return np.vectorize(lut.__getitem__, otypes=[np.int32])(np.asarray(labels)) if flat.size else flat.astype(np.int32)


def boundary_counts(labels: np.ndarray) -> dict[tuple[int, int], int]:
    """Number of 4-neighbour pixel pairs between each pair of regions, keyed ``(a, b)`` with ``a < b``."""
    lab = np.asarray(labels)
    pairs = [np.stack([lab[:, :-1].ravel(), lab[:, 1:].ravel()], 1), np.stack([lab[:-1].ravel(), lab[1:].ravel()], 1)]
    p = np.concatenate(pairs)
    p = p[p[:, 0] != p[:, 1]]
    p = np.sort(p, axis=1)
    keys, counts = np.unique(p, axis=0, return_counts=True)
    return {(int(a), int(b)): int(c) for (a, b), c in zip(keys, counts, strict=True)}


def merge_regions(labels: np.ndarray, *, max_regions: int, min_pixels: int = 0,
                  merge_ids: Sequence[int] = ()) -> np.ndarray:
    """Merge regions into neighbours until every region has ``>= min_pixels`` pixels and there are at most
    ``max_regions``; returns consecutive ids in raster order (:func:`relabel_raster`).

    Each step takes the region to remove: first any id in ``merge_ids`` (e.g. an "unlabelled" class),
    else the smallest region (ties: the smaller id); it joins the neighbour sharing the longest 4-neighbour
    boundary with it (ties: the larger neighbour, then the smaller id). A region with no neighbour (only
    possible when it is the only one) stops the merging.
    """
    if int(max_regions) != max_regions or max_regions < 1:
        raise ValueError(f"max_regions must be a positive int, got {max_regions!r}")
    if min_pixels < 0:
        raise ValueError(f"min_pixels must be >= 0, got {min_pixels!r}")
    lab = np.asarray(labels).astype(np.int64).copy()
    if lab.ndim != 2:
        raise ValueError(f"labels must be a 2-D map, got shape {lab.shape}")
    pending = [int(i) for i in merge_ids]
    while True:
        ids, sizes = np.unique(lab, return_counts=True)
        size = dict(zip(ids.tolist(), sizes.tolist(), strict=True))
        pending = [i for i in pending if i in size]
        if len(ids) <= 1:
            break
        if pending:
            victim = pending[0]
        elif len(ids) > max_regions or sizes.min() < min_pixels:
            victim = int(ids[np.argmin(sizes)])
        else:
            break
        nb = {(b if a == victim else a): c for (a, b), c in boundary_counts(lab).items() if victim in (a, b)}
        if not nb:
            break
        target = min(nb, key=lambda j: (-nb[j], -size[j], j))
        lab[lab == victim] = target
    return relabel_raster(lab)


# --------------------------------------------------------------------------- preprocessing
def center_crop_square(image: np.ndarray) -> np.ndarray:
    """The central ``s × s`` crop, ``s = min(H, W)``."""
    h, w = image.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    return image[top : top + s, left : left + s]


def to_float_rgb(image: np.ndarray, name: str) -> np.ndarray:
    """uint8/uint16/float RGB(A)/gray → float32 ``[H, W, 3]`` in ``[0, 1]`` (alpha dropped, gray repeated)."""
    img = np.asarray(image)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    if img.ndim != 3 or img.shape[-1] not in (3, 4):
        raise ValueError(f"image {name!r}: expected gray, RGB or RGBA, got shape {img.shape}")
    img = img[..., :3]
    if np.issubdtype(img.dtype, np.integer):
        return (img.astype(np.float32) / np.iinfo(img.dtype).max).astype(np.float32)
    img = img.astype(np.float32)
    if img.min() < 0 or img.max() > 1:
        raise ValueError(f"image {name!r}: float values must lie in [0, 1], got [{img.min()}, {img.max()}]")
    return img


def resize_image(image: np.ndarray, size: int) -> np.ndarray:
    """Centre-crop to a square and resize to ``size × size`` with anti-aliasing (float32 in [0, 1])."""
    from skimage.transform import resize

    if int(size) != size or size < 2:
        raise ValueError(f"size must be an int >= 2, got {size!r}")
    sq = center_crop_square(image)
    out = resize(sq, (int(size), int(size)), order=1, anti_aliasing=True, preserve_range=True)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def resize_labels(labels: np.ndarray, size: int) -> np.ndarray:
    """Centre-crop to a square and resize a label map by nearest neighbour (no new ids)."""
    from skimage.transform import resize

    sq = center_crop_square(np.asarray(labels))
    out = resize(sq, (int(size), int(size)), order=0, anti_aliasing=False, preserve_range=True)
    return np.rint(out).astype(np.int64)


def segment_regions(image: np.ndarray, *, max_regions: int, min_fraction: float, method: str = "felzenszwalb",
                    scale: float = 0.02) -> np.ndarray:
    """Unsupervised region map of a float RGB image (module docstring): over-segment, then merge.

    ``scale`` is Felzenszwalb's scale divided by the pixel count (``scale · H · W``), so the same value
    gives comparable segment sizes at every resolution; for SLIC ``n_segments = 4 · max_regions``.
    """
    from skimage import segmentation

    if method not in SEGMENTATION_METHODS:
        raise ValueError(f"unknown segmentation method {method!r}; use one of {SEGMENTATION_METHODS}")
    if not 0 <= min_fraction < 1:
        raise ValueError(f"min_fraction must lie in [0, 1), got {min_fraction!r}")
    h, w = image.shape[:2]
    if method == "felzenszwalb":
        seg = segmentation.felzenszwalb(image, scale=scale * h * w, sigma=0.8, min_size=max(1, (h * w) // 200))
    else:
        seg = segmentation.slic(image, n_segments=4 * int(max_regions), compactness=10.0, start_label=0,
                                channel_axis=-1)
    return merge_regions(seg, max_regions=max_regions, min_pixels=int(np.ceil(min_fraction * h * w)))


# --------------------------------------------------------------------------- sources
def load_skimage_image(name: str, *, size: int, max_regions: int, min_fraction: float,
                       method: str = "felzenszwalb", scale: float = 0.02) -> RegionImage:
    """A scikit-image sample photograph (:data:`SKIMAGE_IMAGES` or any ``skimage.data`` RGB image that is
    shipped with the wheel), resized to ``size × size`` with unsupervised regions."""
    import skimage.data

    loader = getattr(skimage.data, name, None)
    if name.startswith("_") or not callable(loader):
        raise ValueError(f"unknown scikit-image sample image {name!r}; e.g. {SKIMAGE_IMAGES}")
    img = resize_image(to_float_rgb(loader(), name), size)
    labels = segment_regions(img, max_regions=max_regions, min_fraction=min_fraction, method=method, scale=scale)
    return RegionImage(name, img, labels)


def _read_array(path: Path) -> np.ndarray:
    if path.suffix == ".npy":
        return np.load(path)
    import imageio.v3 as iio

    return np.asarray(iio.imread(path))


def load_image_and_labels(image_path: str | os.PathLike, label_path: str | os.PathLike, *, size: int | None = None,
                          max_regions: int | None = None, min_fraction: float = 0.0) -> RegionImage:
    """An RGB image file and its label map (an integer image file or ``.npy``, ``[H, W]``; an RGB label
    image is read through its unique colours).

    With ``size`` both are centre-cropped and resized (the labels by nearest neighbour). With
    ``max_regions`` (or ``min_fraction > 0``) regions are merged as in :func:`merge_regions`. Ids are
    renumbered ``0..K-1`` in raster order.
    """
    image_path, label_path = Path(image_path), Path(label_path)
    for p in (image_path, label_path):
        if not p.is_file():
            raise FileNotFoundError(f"no such file: {str(p)!r}")
    img = to_float_rgb(_read_array(image_path), str(image_path))
    lab = _read_array(label_path)
    if lab.ndim == 3:  # colour-coded label image: one id per unique colour
        _, inv = np.unique(lab.reshape(-1, lab.shape[-1]), axis=0, return_inverse=True)
        lab = inv.reshape(lab.shape[:2])
    if lab.ndim != 2 or not np.issubdtype(lab.dtype, np.integer):
        raise ValueError(f"label map {str(label_path)!r}: expected an integer [H, W] map, got {lab.dtype} {lab.shape}")
    if lab.shape != img.shape[:2]:
        raise ValueError(f"label map {str(label_path)!r} has shape {lab.shape}, image {str(image_path)!r} has "
                         f"{img.shape[:2]}")
    if size is not None:
        img, lab = resize_image(img, size), resize_labels(lab, size)
    if max_regions is not None or min_fraction > 0:
        lab = merge_regions(lab, max_regions=max_regions or int(lab.max()) + 1,
                            min_pixels=int(np.ceil(min_fraction * lab.size)))
    return RegionImage(image_path.stem, img, relabel_raster(lab))


def load_ade20k(data_dir: str | os.PathLike, *, indices: Sequence[int] = ADE20K_TRAIN_INDICES, size: int,
                max_regions: int, min_fraction: float) -> list[RegionImage]:
    """The paper's ADE20K training images from TFDS ``scene_parse150`` prepared under ``data_dir``.

    Never downloads: a missing preparation raises ``FileNotFoundError`` with instructions
    (:func:`rtl_jax.data.tfds_source.prepared_version`). Category 0 ("other"/unlabelled) is merged into
    its neighbours first, then small categories (``min_fraction``) and the surplus over ``max_regions``.
    """
    from rtl_jax.data import tfds_source

    tfds_source.prepared_version("scene_parse150", data_dir)
    import tensorflow_datasets as tfds

    source = tfds.data_source("scene_parse150", split="train", data_dir=os.fspath(data_dir), download=False)
    out = []
    for i in indices:
        if not 0 <= int(i) < len(source):
            raise IndexError(f"ADE20K index {i} outside the train split of {len(source)} images")
        ex = source[int(i)]
        img = resize_image(to_float_rgb(np.asarray(ex["image"]), f"ade20k_{i}"), size)
        ann = np.asarray(ex["annotation"])
        ann = ann[..., 0] if ann.ndim == 3 else ann
        lab = resize_labels(ann, size)
        merge_first = [0] if (lab != 0).any() else []
        lab = merge_regions(lab, max_regions=max_regions, min_pixels=int(np.ceil(min_fraction * lab.size)),
                            merge_ids=merge_first)
        out.append(RegionImage(f"ade20k_{i}", img, lab))
    return out


__all__ = [
    "ADE20K_TRAIN_INDICES",
    "SEGMENTATION_METHODS",
    "SKIMAGE_IMAGES",
    "RegionImage",
    "boundary_counts",
    "center_crop_square",
    "check_region_image",
    "load_ade20k",
    "load_image_and_labels",
    "load_skimage_image",
    "merge_regions",
    "relabel_raster",
    "resize_image",
    "resize_labels",
    "segment_regions",
    "to_float_rgb",
]
