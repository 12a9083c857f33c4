"""Tests of the dataset sources: IDX, local TFDS Fashion-MNIST, CIFAR pickles, TFDS mock data, digits.

Nothing here touches the network: files are written into tmp dirs, TFDS is used through
``tfds.data_source`` on local directories or under ``tfds.testing.mock_data``.
"""
import gzip
import pickle
import re
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from rtl_jax.data import cifar, datasets, fashion_mnist, idx, tfds_source
from rtl_jax.data.datasets import Dataset, Split

DEBIAN_FMNIST = Path("/usr/share/datasets/fashion-mnist")


def _idx_bytes(type_byte: int, shape: tuple[int, ...], payload: bytes) -> bytes:
    """An IDX file's bytes, written out by hand (independent of rtl_jax.data.idx.write_idx)."""
    header = bytes([0, 0, type_byte, len(shape)]) + b"".join(s.to_bytes(4, "big") for s in shape)
    return header + payload


# --------------------------------------------------------------------------- IDX
def test_read_idx_raw_and_gzip(tmp_path):
    data = bytes(range(24))  # a (2, 3, 4) uint8 array 0..23
    (tmp_path / "a-idx3-ubyte").write_bytes(_idx_bytes(0x08, (2, 3, 4), data))
    (tmp_path / "a-idx3-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(0x08, (2, 3, 4), data)))
    for name in ("a-idx3-ubyte", "a-idx3-ubyte.gz"):
        arr = idx.read_idx(tmp_path / name)
        assert arr.dtype == np.uint8 and arr.shape == (2, 3, 4)
        assert arr[1, 2, 3] == 23 and arr[0, 1, 0] == 4
        assert arr.flags.writeable
    # big-endian int32 (type 0x0C): 258 = 00 00 01 02, -1 = ff ff ff ff
    (tmp_path / "b").write_bytes(_idx_bytes(0x0C, (2,), b"\x00\x00\x01\x02\xff\xff\xff\xff"))
    np.testing.assert_array_equal(idx.read_idx(tmp_path / "b"), [258, -1])


def test_read_idx_errors(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x00\x08\x01" + (3).to_bytes(4, "big") + b"abc")
    with pytest.raises(ValueError, match="bad magic number 01000801"):
        idx.read_idx(tmp_path / "bad")
    (tmp_path / "type").write_bytes(_idx_bytes(0x07, (1,), b"a"))
    with pytest.raises(ValueError, match="unknown type byte 0x07"):
        idx.read_idx(tmp_path / "type")
    (tmp_path / "short").write_bytes(_idx_bytes(0x08, (5,), b"abc"))
    with pytest.raises(ValueError, match=r"truncated: header shape \(5,\) needs 13 bytes, got 11"):
        idx.read_idx(tmp_path / "short")
    (tmp_path / "long").write_bytes(_idx_bytes(0x08, (2,), b"abc"))
    with pytest.raises(ValueError, match="1 trailing bytes"):
        idx.read_idx(tmp_path / "long")
    (tmp_path / "cut.gz").write_bytes(gzip.compress(_idx_bytes(0x08, (3,), b"abc"))[:-6])
    with pytest.raises(ValueError, match="corrupt or truncated gzip"):
        idx.read_idx(tmp_path / "cut.gz")
    with pytest.raises(FileNotFoundError, match="nope"):
        idx.read_idx(tmp_path / "nope")


def test_write_idx_round_trip(tmp_path):
    a = np.arange(-6, 6, dtype=np.int16).reshape(3, 4)
    for name in ("w.gz", "w"):
        np.testing.assert_array_equal(idx.read_idx(idx.write_idx(tmp_path / name, a)), a)
    assert (tmp_path / "w.gz").read_bytes()[:2] == b"\x1f\x8b"
    assert (tmp_path / "w").read_bytes()[:4] == b"\x00\x00\x0b\x02"
    with pytest.raises(ValueError, match="cannot store dtype int64"):
        idx.write_idx(tmp_path / "x", np.zeros(2, np.int64))


# --------------------------------------------------------------------------- local TFDS Fashion-MNIST
def _tiny_fmnist_images(n: int, offset: int) -> np.ndarray:
    """Distinct images: pixel (i, r, c) = (offset + 7 * i + r + 3 * c) % 256."""
    i, r, c = np.meshgrid(np.arange(n), np.arange(28), np.arange(28), indexing="ij")
    return ((offset + 7 * i + r + 3 * c) % 256).astype(np.uint8)


TINY_TRAIN_LABELS = np.array([3, 0, 9, 3, 5], np.uint8)
TINY_TEST_LABELS = np.array([8, 1, 1], np.uint8)


def _write_tiny_fmnist_idx(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    parts = {
        "train-images-idx3-ubyte.gz": _idx_bytes(0x08, (5, 28, 28), _tiny_fmnist_images(5, 0).tobytes()),
        "train-labels-idx1-ubyte.gz": _idx_bytes(0x08, (5,), TINY_TRAIN_LABELS.tobytes()),
        "t10k-images-idx3-ubyte.gz": _idx_bytes(0x08, (3, 28, 28), _tiny_fmnist_images(3, 100).tobytes()),
        "t10k-labels-idx1-ubyte.gz": _idx_bytes(0x08, (3,), TINY_TEST_LABELS.tobytes()),
    }
    for name, raw in parts.items():
        (folder / name).write_bytes(gzip.compress(raw))


@pytest.fixture(scope="module")
def tiny_fmnist(tmp_path_factory):
    """(data_dir, idx_dir) of a tiny Fashion-MNIST-format TFDS dataset built once for this module."""
    root = tmp_path_factory.mktemp("tiny_fmnist")
    _write_tiny_fmnist_idx(root / "idx")
    fashion_mnist.prepare_fashion_mnist(root / "data", idx_dir=root / "idx")
    return root / "data", root / "idx"


def test_fashion_mnist_local_tfds_round_trip(tiny_fmnist):
    data_dir, idx_dir = tiny_fmnist
    ds = datasets.load_dataset("fashion_mnist", data_dir=data_dir, idx_dir=idx_dir)
    assert isinstance(ds, Dataset) and ds.name == "fashion_mnist"
    assert ds.input_shape == (28, 28, 1) and ds.num_classes == 10
    assert ds.class_names[0] == "T-shirt/top" and ds.class_names[9] == "Ankle boot"
    assert ds.train.x.dtype == np.uint8 and ds.train.y.dtype == np.int32
    np.testing.assert_array_equal(ds.train.x[..., 0], _tiny_fmnist_images(5, 0))  # values and order
    np.testing.assert_array_equal(ds.test.x[..., 0], _tiny_fmnist_images(3, 100))
    np.testing.assert_array_equal(ds.train.y, [3, 0, 9, 3, 5])
    np.testing.assert_array_equal(ds.test.y, [8, 1, 1])
    assert ds.train.x[4, 2, 1, 0] == 28 + 2 + 3  # (0 + 7*4 + 2 + 3*1) % 256


def test_fashion_mnist_fast_reader_equals_tfds_decoding(tiny_fmnist):
    import tensorflow_datasets as tfds

    data_dir, _ = tiny_fmnist
    builder = tfds.builder_from_directory(str(fashion_mnist.builder_dir(data_dir)))
    for split in ("train", "test"):
        fast = fashion_mnist.read_split(builder, split)
        generic = tfds_source.split_from_source(builder.as_data_source(split=split))
        np.testing.assert_array_equal(fast.x, generic.x)
        np.testing.assert_array_equal(fast.y, generic.y)


def test_fashion_mnist_prepare_is_idempotent(tiny_fmnist, tmp_path):
    data_dir, _ = tiny_fmnist
    stamp = (fashion_mnist.builder_dir(data_dir) / "dataset_info.json").stat().st_mtime_ns
    # already prepared: returns without needing the IDX files at all
    path = fashion_mnist.prepare_fashion_mnist(data_dir, idx_dir=tmp_path / "nonexistent")
    assert path == fashion_mnist.builder_dir(data_dir)
    assert (path / "dataset_info.json").stat().st_mtime_ns == stamp


def test_fashion_mnist_missing_idx_files_message(tmp_path, monkeypatch):
    (tmp_path / "idx").mkdir()
    (tmp_path / "idx" / "train-images-idx3-ubyte.gz").write_bytes(b"")
    with pytest.raises(FileNotFoundError) as err:
        fashion_mnist.prepare_fashion_mnist(tmp_path / "data", idx_dir=tmp_path / "idx")
    msg = str(err.value)
    assert "apt-get install dataset-fashion-mnist" in msg
    assert "RTL_FASHION_MNIST_DIR" in msg and "zalandoresearch/fashion-mnist" in msg
    assert "'t10k-labels-idx1-ubyte.gz'" in msg and "'train-images-idx3-ubyte.gz'" not in msg
    assert not (tmp_path / "data").exists()  # nothing built
    # the env var chooses the default IDX folder
    monkeypatch.setenv("RTL_FASHION_MNIST_DIR", str(tmp_path / "idx"))
    assert fashion_mnist.default_idx_dir() == tmp_path / "idx"
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "idx"))):
        fashion_mnist.prepare_fashion_mnist(tmp_path / "data")
    monkeypatch.delenv("RTL_FASHION_MNIST_DIR")
    assert fashion_mnist.default_idx_dir() == Path("/usr/share/datasets/fashion-mnist")


def test_fashion_mnist_inconsistent_idx(tmp_path):
    _write_tiny_fmnist_idx(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(0x08, (2,), b"\x01\x02")))
    with pytest.raises(ValueError, match="must hold 3 uint8 labels"):
        fashion_mnist.read_fashion_mnist_idx(tmp_path, "test")


@pytest.fixture(scope="session")
def real_fmnist(tmp_path_factory):
    if not (DEBIAN_FMNIST / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"real Fashion-MNIST not installed in {DEBIAN_FMNIST} (apt-get install dataset-fashion-mnist)")
    return datasets.load_dataset(
        "fashion_mnist", data_dir=tmp_path_factory.mktemp("fmnist_real"), idx_dir=DEBIAN_FMNIST
    )


def test_real_fashion_mnist(real_fmnist):
    ds = real_fmnist
    assert ds.train.x.shape == (60000, 28, 28, 1) and ds.test.x.shape == (10000, 28, 28, 1)
    np.testing.assert_array_equal(np.bincount(ds.train.y, minlength=10), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(ds.test.y, minlength=10), [1000] * 10)
    np.testing.assert_array_equal(ds.test.x[..., 0], idx.read_idx(DEBIAN_FMNIST / "t10k-images-idx3-ubyte.gz"))
    np.testing.assert_array_equal(ds.train.y[:5], idx.read_idx(DEBIAN_FMNIST / "train-labels-idx1-ubyte.gz")[:5])


# --------------------------------------------------------------------------- CIFAR pickles
def _chw_rows(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 3072), dtype=np.uint8)


def _dump(path: Path, obj, *, py2_module_names: bool = False) -> None:
    raw = pickle.dumps(obj, protocol=2)
    if py2_module_names:  # the real files were written by Python 2 numpy: numpy.core.multiarray
        raw = raw.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
        assert b"numpy.core.multiarray" in raw
    path.write_bytes(raw)


def _write_cifar10(data_dir: Path) -> dict[str, np.ndarray]:
    root = data_dir / "cifar-10-batches-py"
    root.mkdir(parents=True)
    rows = {}
    for b in range(1, 6):
        rows[f"data_batch_{b}"] = _chw_rows(2, b)
        batch = {b"batch_label": b"training batch", b"labels": [b - 1, 9], b"data": rows[f"data_batch_{b}"],
                 b"filenames": [b"a.png", b"b.png"]}
        _dump(root / f"data_batch_{b}", batch, py2_module_names=(b == 1))
    rows["test_batch"] = _chw_rows(3, 99)
    _dump(root / "test_batch", {b"labels": [7, 0, 3], b"data": rows["test_batch"], b"batch_label": b"test"})
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
    _dump(root / "batches.meta", {b"label_names": names, b"num_cases_per_batch": 10000, b"num_vis": 3072})
    return rows


def test_cifar10_pickle_reader(tmp_path):
    rows = _write_cifar10(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. numpy's DeprecationWarning for numpy.core in old pickles
        ds = datasets.load_dataset("cifar10_pickle", data_dir=tmp_path)
    assert ds.train.x.shape == (10, 32, 32, 3) and ds.test.x.shape == (3, 32, 32, 3)
    assert ds.train.x.dtype == np.uint8 and ds.input_shape == (32, 32, 3)
    np.testing.assert_array_equal(ds.train.y, [0, 9, 1, 9, 2, 9, 3, 9, 4, 9])
    np.testing.assert_array_equal(ds.test.y, [7, 0, 3])
    assert ds.class_names[1] == "automobile" and ds.num_classes == 10
    # CHW -> HWC on known pixels: image i, row h, col w, channel c is byte c*1024 + h*32 + w
    r = rows["data_batch_2"]
    assert ds.train.x[3, 5, 7, 2] == r[1, 2 * 1024 + 5 * 32 + 7]  # train image 3 = batch 2 row 1
    assert ds.train.x[2, 31, 0, 1] == r[0, 1 * 1024 + 31 * 32 + 0]
    assert ds.test.x[2, 0, 31, 0] == rows["test_batch"][2, 31]
    np.testing.assert_array_equal(ds.train.x[0, :, :, 0].ravel(), rows["data_batch_1"][0, :1024])


def test_cifar100_pickle_reader(tmp_path):
    root = tmp_path / "cifar-100-python"
    root.mkdir()
    train_rows, test_rows = _chw_rows(4, 1), _chw_rows(2, 2)
    _dump(root / "train", {b"data": train_rows, b"fine_labels": [0, 99, 5, 42], b"coarse_labels": [4, 19, 0, 7],
                           b"filenames": [b"x"] * 4})
    _dump(root / "test", {b"data": test_rows, b"fine_labels": [1, 2], b"coarse_labels": [1, 14]})
    fine = [f"fine{i}".encode() for i in range(100)]
    coarse = [f"coarse{i}".encode() for i in range(20)]
    _dump(root / "meta", {b"fine_label_names": fine, b"coarse_label_names": coarse})
    ds = datasets.load_dataset("cifar100_pickle", data_dir=tmp_path)
    assert ds.num_classes == 100 and ds.class_names[99] == "fine99"
    np.testing.assert_array_equal(ds.train.y, [0, 99, 5, 42])
    assert ds.train.extras["coarse_label"].dtype == np.int32
    np.testing.assert_array_equal(ds.train.extras["coarse_label"], [4, 19, 0, 7])
    np.testing.assert_array_equal(ds.test.extras["coarse_label"], [1, 14])
    assert ds.extra_names["coarse_label"][19] == "coarse19"
    assert ds.train.x[1, 10, 20, 2] == train_rows[1, 2 * 1024 + 10 * 32 + 20]


def test_cifar_pickle_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"cs\.toronto\.edu/~kriz/cifar\.html"):
        datasets.load_dataset("cifar10_pickle", data_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="cifar-100-python"):
        datasets.load_dataset("cifar100_pickle", data_dir=tmp_path)

    class Evil:
        def __reduce__(self):
            import os

            return (os.getcwd, ())

    (tmp_path / "evil").write_bytes(pickle.dumps({b"data": Evil()}, protocol=2))
    with pytest.raises(ValueError, match="forbidden global"):
        cifar.read_cifar_pickle(tmp_path / "evil")
    with pytest.raises(ValueError, match=r"shape \(N, 3072\)"):
        cifar.rows_to_hwc(np.zeros((2, 3071), np.uint8))


# --------------------------------------------------------------------------- TFDS (mock data, prepared check)
@pytest.fixture
def fixed_tfds_mock(monkeypatch):
    """tfds.testing.mock_data with TFDS 4.9.10's ``__getitems__`` mock repaired.

    The mock assigns ``__getitems__ = partial(_getitems, generator=...)`` on the instance, so it is
    called without ``self`` and fails; the real data source is fine. Patch the helper it wraps.
    """
    import tensorflow_datasets as tfds
    from tensorflow_datasets.testing import mocking

    def getitems(record_keys, generator, serialized=False):
        assert not serialized
        return [generator[k] for k in record_keys]

    monkeypatch.setattr(mocking, "_getitems", getitems)
    return tfds.testing.mock_data


def _fake_prepared(data_dir: Path, name: str, version: str) -> None:
    """A directory that passes the prepared-dataset check (mock_data supplies the content)."""
    folder = data_dir / name / version
    folder.mkdir(parents=True)
    (folder / "dataset_info.json").write_text("{}")
    (folder / f"{name}-train.array_record-00000-of-00001").write_bytes(b"")


def test_tfds_cifar100_through_mock_data(tmp_path, fixed_tfds_mock):
    _fake_prepared(tmp_path, "cifar100", "3.0.2")
    with fixed_tfds_mock(num_examples=6):
        ds = datasets.load_dataset("cifar100", data_dir=tmp_path)
    assert "tensorflow" not in sys.modules  # TFDS without TensorFlow
    assert ds.train.x.shape == (6, 32, 32, 3) and ds.test.x.shape == (6, 32, 32, 3)
    assert ds.train.x.dtype == np.uint8 and ds.train.y.dtype == np.int32
    assert ds.num_classes == 100 and len(ds.class_names) == 100
    coarse = ds.train.extras["coarse_label"]
    assert coarse.shape == (6,) and coarse.dtype == np.int32
    assert 0 <= coarse.min() and coarse.max() < 20
    assert 0 <= ds.train.y.min() and ds.train.y.max() < 100
    assert len(ds.extra_names["coarse_label"]) == 20


def test_tfds_not_prepared_raises_before_touching_tfds(tmp_path, monkeypatch):
    import tensorflow_datasets as tfds

    def forbidden(*args, **kwargs):
        raise AssertionError("TFDS must not be called for an unprepared dataset")

    monkeypatch.setattr(tfds, "data_source", forbidden)
    monkeypatch.setattr(tfds, "builder", forbidden)
    with pytest.raises(FileNotFoundError) as err:
        datasets.load_dataset("cifar10", data_dir=tmp_path)
    msg = str(err.value)
    assert "not prepared" in msg and "never downloads" in msg
    assert "TensorFlow" in msg and "download_and_prepare(file_format='array_record')" in msg
    assert "'cifar10_pickle'" in msg
    with pytest.raises(FileNotFoundError, match="'mnist' is not prepared"):
        datasets.load_dataset("mnist", data_dir=tmp_path)
    # prepared in another file format: no array_record files
    folder = tmp_path / "cifar100" / "3.0.2"
    folder.mkdir(parents=True)
    (folder / "dataset_info.json").write_text("{}")
    (folder / "cifar100-train.tfrecord-00000-of-00001").write_bytes(b"")
    with pytest.raises(ValueError, match="has no array_record files"):
        datasets.load_dataset("cifar100", data_dir=tmp_path)


def test_prepared_version_picks_newest(tmp_path):
    _fake_prepared(tmp_path, "mnist", "3.0.1")
    _fake_prepared(tmp_path, "mnist", "3.0.10")
    (tmp_path / "mnist" / "incomplete.ABC_3.0.11").mkdir()
    assert tfds_source.prepared_version("mnist", tmp_path) == "3.0.10"


def test_data_layer_never_calls_tfds_load():
    root = Path(datasets.__file__).parent
    offenders = [p.name for p in root.glob("*.py") if "tfds.load" in p.read_text()]
    assert offenders == []


# --------------------------------------------------------------------------- digits, registry, helpers
def test_digits_loader():
    ds = datasets.load_dataset("digits", data_dir="unused")
    assert ds.train.x.shape == (1437, 8, 8, 1) and ds.test.x.shape == (360, 8, 8, 1)
    assert ds.train.x.dtype == np.uint8 and ds.train.x.max() == 255
    assert ds.num_classes == 10 and ds.class_names == tuple("0123456789")
    # largest-remainder stratification of 360 over class counts 178,182,177,183,181,182,181,179,174,180
    np.testing.assert_array_equal(np.bincount(ds.test.y), [36, 37, 35, 37, 36, 36, 36, 36, 35, 36])
    assert set(np.unique(ds.train.x).tolist()) <= {round(v * 255 / 16) for v in range(17)}
    test_idx = datasets.stratified_test_indices(np.repeat(np.arange(10), 5), 20, seed=0)
    np.testing.assert_array_equal(test_idx, datasets.stratified_test_indices(np.repeat(np.arange(10), 5), 20, seed=0))
    np.testing.assert_array_equal(np.bincount(test_idx // 5), [2] * 10)
    assert not np.array_equal(test_idx, datasets.stratified_test_indices(np.repeat(np.arange(10), 5), 20, seed=1))


def test_registry():
    assert datasets.dataset_names() == [
        "cifar10", "cifar100", "cifar100_pickle", "cifar10_pickle", "digits", "fashion_mnist", "mnist",
    ]
    with pytest.raises(ValueError, match="unknown dataset 'cifar1000'; known datasets: cifar10, "):
        datasets.load_dataset("cifar1000", data_dir=".")
    with pytest.raises(ValueError, match=r"dataset 'digits' takes no option\(s\) \['idx_dir'\]"):
        datasets.load_dataset("digits", data_dir=".", idx_dir="x")


def test_channel_stats_and_standardize():
    x = np.array([[[[0, 51]]], [[[255, 51]]]], np.uint8)  # (2, 1, 1, 2)
    mean, std = datasets.channel_stats(Split(x, np.array([0, 1])))
    np.testing.assert_allclose(mean, [0.5, 0.2], atol=1e-7)
    np.testing.assert_allclose(std, [0.5, 0.0], atol=1e-7)
    assert mean.dtype == np.float32 and mean.shape == (2,)
    z = datasets.standardize(x, [0.5, 0.2], [0.5, 0.1])
    assert z.dtype == np.float32
    np.testing.assert_allclose(z[:, 0, 0, :], [[-1.0, 0.0], [1.0, 0.0]], atol=1e-6)
    with pytest.raises(ValueError, match="std must be positive"):
        datasets.standardize(x, [0.5, 0.2], [0.5, 0.0])
    with pytest.raises(ValueError, match=r"mean must be a scalar or have shape \(2,\)"):
        datasets.standardize(x, [0.5, 0.2, 0.1], 1.0)
    with pytest.raises(ValueError, match="uint8"):
        datasets.standardize(x.astype(np.float32), 0.5, 0.5)


def test_subsample_per_class():
    x = np.arange(7, dtype=np.uint8).reshape(7, 1, 1, 1)
    split = Split(x, np.array([0, 1, 0, 1, 0, 2, 2]), {"tag": np.arange(7) * 10})
    sub = datasets.subsample_per_class(split, 2, seed=0)
    assert len(sub) == 6
    np.testing.assert_array_equal(np.bincount(sub.y), [2, 2, 2])
    assert np.all(np.diff(sub.x.ravel()) > 0)  # original order kept
    np.testing.assert_array_equal(sub.extras["tag"], sub.x.ravel().astype(np.int32) * 10)
    np.testing.assert_array_equal(datasets.subsample_per_class(split, 2, seed=0).x, sub.x)
    with pytest.raises(ValueError, match=r"fewer examples: \{1: 2, 2: 2\}"):
        datasets.subsample_per_class(split, 3, seed=0)


def test_split_and_dataset_validation():
    x = np.zeros((2, 3, 3, 1), np.uint8)
    with pytest.raises(ValueError, match="Split.x must be uint8"):
        Split(x.astype(np.float32), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"Split.y must have shape \(2,\)"):
        Split(x, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="Split.y must hold integers"):
        Split(x, np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"extras\['c'\] must have leading length 2"):
        Split(x, np.array([0, 1]), {"c": np.zeros(3)})
    s = Split(x, np.array([0, 3]))
    with pytest.raises(ValueError, match=r"labels span \[0, 3\], outside \[0, 3\)"):
        Dataset("d", s, s, 3, ("a", "b", "c"))
    with pytest.raises(ValueError, match="2 class names for num_classes=4"):
        Dataset("d", s, s, 4, ("a", "b"))
    with pytest.raises(IndexError, match="out of range"):
        s.take(np.array([2]))
