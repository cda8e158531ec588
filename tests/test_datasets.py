"""Tests of sknclust.datasets: IDX parsing, checksums, errors, and the real files."""

import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest

from sknclust.datasets import _mnist, _usps, get_data_home, load_mnist, load_usps
from sknclust.datasets._mnist import read_idx

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
USPS_TRAIN_COUNTS = [1194, 1005, 731, 658, 652, 556, 664, 645, 542, 644]
USPS_TEST_COUNTS = [359, 264, 198, 166, 200, 160, 170, 147, 166, 177]


def _idx_bytes(array: np.ndarray, code: int, dtype: str) -> bytes:
    header = struct.pack(">BBBB", 0, 0, code, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(dtype).tobytes()


def _write(path: Path, payload: bytes, *, compress: bool = True) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(payload) if compress else payload)
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def fake_mnist(tmp_path, monkeypatch):
    """Tiny MNIST-format files (3 train, 2 test images) with patched checksums."""
    rng = np.random.default_rng(0)
    parts = {
        "train": (rng.integers(0, 256, (3, 28, 28)), np.array([5, 0, 4])),
        "test": (rng.integers(0, 256, (2, 28, 28)), np.array([7, 2])),
    }
    for part, (images, labels) in parts.items():
        images_name, labels_name = _mnist.MNIST_FILES[part]
        for name, payload in [
            (images_name, _idx_bytes(images, 0x08, ">u1")),
            (labels_name, _idx_bytes(labels, 0x08, ">u1")),
        ]:
            sha = _write(tmp_path / "mnist" / name, payload)
            monkeypatch.setitem(_mnist.MNIST_SHA256, name, sha)
    return tmp_path, parts


def test_get_data_home_resolution(monkeypatch, tmp_path):
    assert get_data_home(tmp_path) == tmp_path
    assert get_data_home(str(tmp_path)) == tmp_path
    monkeypatch.setenv("SKNCLUST_DATA", str(tmp_path / "env"))
    assert get_data_home() == tmp_path / "env"
    monkeypatch.delenv("SKNCLUST_DATA")
    assert get_data_home() == Path("../shared/data")


@pytest.mark.parametrize("compress", [True, False])
def test_read_idx_big_endian_types(tmp_path, compress):
    values = np.arange(-3, 9, dtype=np.int32).reshape(3, 4) * 1000
    name = "values.idx.gz" if compress else "values.idx"
    _write(tmp_path / name, _idx_bytes(values, 0x0C, ">i4"), compress=compress)
    parsed = read_idx(tmp_path / name)
    assert parsed.dtype == np.int32 and parsed.dtype.isnative
    np.testing.assert_array_equal(parsed, values)


def test_read_idx_rejects_bad_magic_and_wrong_size(tmp_path):
    _write(tmp_path / "bad.gz", b"\x01\x00\x08\x01\x00\x00\x00\x01\x05")
    with pytest.raises(ValueError, match="bad magic number"):
        read_idx(tmp_path / "bad.gz")
    # The header announces 4 bytes but only 3 follow.
    _write(tmp_path / "short.gz", _idx_bytes(np.zeros(4), 0x08, ">u1")[:-1])
    with pytest.raises(ValueError, match=r"shape \(4,\) \(4 bytes\) but 3 bytes"):
        read_idx(tmp_path / "short.gz")


def test_load_mnist_fake_files(fake_mnist):
    home, parts = fake_mnist
    mnist = load_mnist(home)
    assert mnist.data.shape == (5, 784) and mnist.data.dtype == np.float32
    assert mnist.target.dtype == np.int64
    np.testing.assert_array_equal(mnist.target, [5, 0, 4, 7, 2])
    np.testing.assert_array_equal(mnist.split, [0, 0, 0, 1, 1])
    np.testing.assert_array_equal(mnist.images[3], parts["test"][0][0])
    assert mnist.images.shape == (5, 28, 28)
    assert np.shares_memory(mnist.images, mnist.data)
    assert len(mnist.feature_names) == 784 and mnist.feature_names[29] == "pixel_1_1"
    assert "MNIST" in mnist.DESCR

    X, y = load_mnist(home, subset="test", return_X_y=True)
    np.testing.assert_array_equal(y, [7, 2])
    np.testing.assert_array_equal(X.reshape(2, 28, 28), parts["test"][0])
    assert load_mnist(home, subset="train").data.shape == (3, 784)


def test_load_mnist_checksum_mismatch_names_file(fake_mnist, monkeypatch):
    home, _ = fake_mnist
    monkeypatch.setitem(_mnist.MNIST_SHA256, "t10k-labels-idx1-ubyte.gz", "0" * 64)
    with pytest.raises(ValueError, match="Checksum mismatch.*t10k-labels-idx1-ubyte"):
        load_mnist(home)
    # The training part does not need the corrupt file.
    assert load_mnist(home, subset="train").target.shape == (3,)


def test_load_mnist_unpatched_checksums_reject_fakes(fake_mnist, monkeypatch):
    home, _ = fake_mnist
    monkeypatch.undo()  # the real published checksums
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz"):
        load_mnist(home, subset="train")


def test_load_mnist_missing_file_message(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_mnist(tmp_path, subset="test")
    message = str(info.value)
    assert str(tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz") in message
    assert "data_home=" in message and "SKNCLUST_DATA" in message


def test_load_mnist_uses_environment_variable(fake_mnist, monkeypatch):
    home, _ = fake_mnist
    monkeypatch.setenv("SKNCLUST_DATA", str(home))
    assert load_mnist(subset="test").data.shape == (2, 784)


@pytest.mark.parametrize("loader", [load_mnist, load_usps])
def test_bad_subset(loader, tmp_path):
    with pytest.raises(ValueError, match="subset must be one of"):
        loader(tmp_path, subset="validation")


def _fake_usps_arrays():
    rng = np.random.default_rng(1)
    X = rng.integers(0, 2001, (5, 256)).astype(np.float32) / 2000
    y = np.array([3, 1, 4, 1, 5])
    split = np.array([0, 0, 0, 1, 1], dtype=np.uint8)
    return X, y, split


def test_load_usps_fake_h5(tmp_path, monkeypatch):
    h5py = pytest.importorskip("h5py")
    X, y, split = _fake_usps_arrays()
    path = tmp_path / "usps" / "usps.h5"
    path.parent.mkdir()
    with h5py.File(path, "w") as f:
        for part, rows in [("train", split == 0), ("test", split == 1)]:
            f.create_dataset(f"{part}/data", data=X[rows])
            f.create_dataset(f"{part}/target", data=y[rows].astype(np.int32))
    monkeypatch.setattr(
        _usps, "USPS_H5_SHA256", hashlib.sha256(path.read_bytes()).hexdigest()
    )
    usps = load_usps(tmp_path)
    np.testing.assert_array_equal(usps.data, X)
    assert usps.target.dtype == np.int64 and usps.images.shape == (5, 16, 16)
    X_test, y_test = load_usps(tmp_path, subset="test", return_X_y=True)
    np.testing.assert_array_equal(y_test, [1, 5])
    np.testing.assert_array_equal(X_test, X[3:])

    monkeypatch.setattr(_usps, "USPS_H5_SHA256", "f" * 64)
    with pytest.raises(ValueError, match="Checksum mismatch.*usps.h5"):
        load_usps(tmp_path)


def test_load_usps_npz_fallback_without_h5py(tmp_path, monkeypatch):
    X, y, split = _fake_usps_arrays()
    (tmp_path / "usps").mkdir()
    np.savez(tmp_path / "usps" / "usps.npz", X=X, y=y, split=split)
    monkeypatch.setattr(_usps, "_import_h5py", lambda: None)
    with pytest.raises(ValueError, match="Checksum mismatch.*usps.npz"):
        load_usps(tmp_path)
    digest = _usps.usps_array_sha256(X, y, split)
    monkeypatch.setattr(_usps, "USPS_NPZ_ARRAY_SHA256", digest)
    usps = load_usps(tmp_path, subset="train")
    np.testing.assert_array_equal(usps.data, X[:3])
    np.testing.assert_array_equal(usps.split, [0, 0, 0])


def test_load_usps_missing_files(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="SKNCLUST_DATA") as info:
        load_usps(tmp_path)
    assert str(tmp_path / "usps") in str(info.value)
    monkeypatch.setattr(_usps, "_import_h5py", lambda: None)
    with pytest.raises(FileNotFoundError, match="h5py is not installed") as info:
        load_usps(tmp_path)
    assert str(tmp_path / "usps" / "usps.npz") in str(info.value)


# --- the real files (skipped when the data folder is absent) ---------------------


@pytest.fixture(scope="module")
def real_mnist(request):
    data_dir = request.getfixturevalue("data_dir")
    return load_mnist(data_dir)


def test_real_mnist(real_mnist):
    mnist = real_mnist
    assert mnist.data.shape == (70000, 784) and mnist.data.dtype == np.float32
    assert mnist.target.dtype == np.int64
    assert mnist.data.min() == 0 and mnist.data.max() == 255
    train, test = mnist.split == 0, mnist.split == 1
    assert train[:60000].all() and test[60000:].all()
    assert np.bincount(mnist.target[train]).tolist() == MNIST_TRAIN_COUNTS
    assert np.bincount(mnist.target[test]).tolist() == MNIST_TEST_COUNTS
    assert mnist.images.shape == (70000, 28, 28)


def test_real_mnist_subsets_agree(real_mnist, data_dir):
    X, y = load_mnist(data_dir, subset="test", return_X_y=True)
    np.testing.assert_array_equal(y[:5], [7, 2, 1, 0, 4])
    np.testing.assert_array_equal(X, real_mnist.data[60000:])


def test_real_usps(data_dir):
    usps = load_usps(data_dir)
    assert usps.data.shape == (9298, 256) and usps.data.dtype == np.float32
    assert usps.images.shape == (9298, 16, 16)
    assert usps.data.min() >= 0 and usps.data.max() <= 1
    assert np.bincount(usps.target[usps.split == 0]).tolist() == USPS_TRAIN_COUNTS
    assert np.bincount(usps.target[usps.split == 1]).tolist() == USPS_TEST_COUNTS
    assert load_usps(data_dir, subset="test").data.shape == (2007, 256)


def test_real_usps_npz_matches_h5(data_dir, monkeypatch):
    pytest.importorskip("h5py")
    X_h5, y_h5 = load_usps(data_dir, return_X_y=True)
    monkeypatch.setattr(_usps, "_import_h5py", lambda: None)
    X_npz, y_npz = load_usps(data_dir, return_X_y=True)
    np.testing.assert_array_equal(X_h5, X_npz)
    np.testing.assert_array_equal(y_h5, y_npz)
