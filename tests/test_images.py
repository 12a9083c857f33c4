"""Images with region maps for the INR experiment: label-map utilities, file loading, skimage regions."""
import numpy as np
import pytest

from rtl_jax.data import images


# --------------------------------------------------------------------------- label maps
def test_relabel_raster_numbers_regions_by_first_appearance():
    lab = np.array([[5, 5, 2], [7, 2, 2]])
    out = images.relabel_raster(lab)
    np.testing.assert_array_equal(out, [[0, 0, 1], [2, 1, 1]])
    assert out.dtype == np.int32


def test_boundary_counts_hand_computed():
    # 0 0 1
    # 2 2 1      horizontal pairs: (0,1) (2,1) -> 1 each; vertical: (0,2) x2, (1,1) none.
    lab = np.array([[0, 0, 1], [2, 2, 1]])
    assert images.boundary_counts(lab) == {(0, 1): 1, (0, 2): 2, (1, 2): 1}


def test_merge_regions_joins_smallest_into_longest_boundary_neighbour():
    # Region 9 (1 pixel) touches 3 (2 edges) and 4 (1 edge) -> joins 3. Then 3 regions remain.
    lab = np.array([
        [3, 3, 4, 4],
        [3, 9, 4, 4],
        [3, 3, 4, 4],
        [5, 5, 5, 5],
    ])
    out = images.merge_regions(lab, max_regions=3, min_pixels=0)
    np.testing.assert_array_equal(out, [[0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 2, 2]])
    # max_regions=2: after 9 -> 3, sizes are 3: 6, 4: 6, 5: 4 px, so 5 goes. It touches 3 and 4 with 2
    # edges each, both neighbours hold 6 px -> the smaller id, 3.
    out2 = images.merge_regions(lab, max_regions=2, min_pixels=0)
    np.testing.assert_array_equal(out2, [[0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 0, 0]])


def test_merge_regions_min_pixels_and_merge_ids():
    lab = np.array([[0, 1, 1], [0, 1, 1], [2, 2, 2]])
    # min_pixels=3: region 0 (2 px) touches 1 (2 edges) and 2 (1 edge) -> joins 1.
    np.testing.assert_array_equal(images.merge_regions(lab, max_regions=10, min_pixels=3),
                                  [[0, 0, 0], [0, 0, 0], [1, 1, 1]])
    # merge_ids: region 1 is removed first although it is the largest. It shares 2 edges with 0 and 2 edges
    # with 2; the tie goes to the larger neighbour, 2 (3 px vs 2 px).
    np.testing.assert_array_equal(images.merge_regions(lab, max_regions=10, merge_ids=[1]),
                                  [[0, 1, 1], [0, 1, 1], [1, 1, 1]])
    with pytest.raises(ValueError, match="max_regions"):
        images.merge_regions(lab, max_regions=0)


def test_region_image_checks():
    img = np.zeros((2, 2, 3), np.float32)
    with pytest.raises(ValueError, match="consecutive"):
        images.RegionImage("x", img, np.array([[0, 2], [2, 0]]))
    with pytest.raises(ValueError, match="label map shape"):
        images.RegionImage("x", img, np.zeros((2, 3), np.int32))
    assert images.RegionImage("x", img, np.array([[0, 1], [1, 0]])).num_regions == 2


# --------------------------------------------------------------------------- files
def _write_png(path, arr):
    import imageio.v3 as iio

    iio.imwrite(path, arr)


def test_load_image_and_labels_from_files(tmp_path):
    img = np.zeros((4, 6, 3), np.uint8)
    img[:, 3:] = 255
    lab = np.zeros((4, 6), np.uint8)
    lab[:, 3:] = 7
    _write_png(tmp_path / "im.png", img)
    _write_png(tmp_path / "lab.png", lab)
    r = images.load_image_and_labels(tmp_path / "im.png", tmp_path / "lab.png")
    assert r.name == "im"
    np.testing.assert_array_equal(r.image[0, :, 0], [0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(r.labels[0], [0, 0, 0, 1, 1, 1])
    np.save(tmp_path / "lab.npy", lab[:, ::-1].astype(np.int64))
    r2 = images.load_image_and_labels(tmp_path / "im.png", tmp_path / "lab.npy")
    np.testing.assert_array_equal(r2.labels[0], [0, 0, 0, 1, 1, 1])  # raster order: 7 comes first now
    # colour-coded labels: two colours -> two regions
    _write_png(tmp_path / "lab_rgb.png", np.stack([lab * 30] * 3, -1).astype(np.uint8))
    assert images.load_image_and_labels(tmp_path / "im.png", tmp_path / "lab_rgb.png").num_regions == 2


def test_load_image_and_labels_errors(tmp_path):
    _write_png(tmp_path / "im.png", np.zeros((4, 6, 3), np.uint8))
    np.save(tmp_path / "bad.npy", np.zeros((4, 5), np.int64))
    with pytest.raises(FileNotFoundError, match="missing.png"):
        images.load_image_and_labels(tmp_path / "im.png", tmp_path / "missing.png")
    with pytest.raises(ValueError, match=r"shape \(4, 5\)"):
        images.load_image_and_labels(tmp_path / "im.png", tmp_path / "bad.npy")


def test_to_float_rgb():
    out = images.to_float_rgb(np.array([[0, 255]], np.uint8), "g")
    np.testing.assert_array_equal(out, [[[0, 0, 0], [1, 1, 1]]])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        images.to_float_rgb(np.full((2, 2, 3), 2.0), "f")


# --------------------------------------------------------------------------- skimage and ADE20K
def test_skimage_image_regions():
    r = images.load_skimage_image("coffee", size=16, max_regions=3, min_fraction=0.1)
    assert r.image.shape == (16, 16, 3) and r.image.dtype == np.float32
    assert 2 <= r.num_regions <= 3
    assert np.bincount(r.labels.ravel()).min() >= np.ceil(0.1 * 256)
    again = images.load_skimage_image("coffee", size=16, max_regions=3, min_fraction=0.1)
    np.testing.assert_array_equal(r.labels, again.labels)  # deterministic
    with pytest.raises(ValueError, match="no_such_picture"):
        images.load_skimage_image("no_such_picture", size=16, max_regions=3, min_fraction=0.1)
    with pytest.raises(ValueError, match="segmentation method 'kmeans'"):
        images.segment_regions(r.image, max_regions=3, min_fraction=0.1, method="kmeans")


def test_ade20k_never_downloads(tmp_path):
    with pytest.raises(FileNotFoundError, match="scene_parse150"):
        images.load_ade20k(tmp_path, size=16, max_regions=4, min_fraction=0.05)
