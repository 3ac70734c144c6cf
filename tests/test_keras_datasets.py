"""The Keras-named data sets: file formats, where they are looked for, and what a miss says.

Every file is written here in its real format (IDX, gzipped; CIFAR binary and python batches);
nothing depends on a system package or the network.
"""

import dataclasses
import gzip
import pickle

import numpy as np
import pytest

from bottleneck_search import DatasetError, load_dataset
from bottleneck_search.data.formats import read_cifar_python, read_idx
from bottleneck_search.data.keras_datasets import DEBIAN_FASHION_MNIST, IDX_FILES, KERAS_DATASETS

RNG = np.random.default_rng(0)


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    return header + array.astype(np.uint8).tobytes()


def write_idx_set(folder, train=40, test=20, classes=10):
    folder.mkdir(parents=True, exist_ok=True)
    arrays = (
        RNG.integers(0, 256, (train, 28, 28)),
        np.arange(train) % classes,
        RNG.integers(0, 256, (test, 28, 28)),
        np.arange(test) % classes,
    )
    for name, array in zip(IDX_FILES, arrays, strict=True):
        (folder / name).write_bytes(gzip.compress(idx_bytes(array)))
    return arrays


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    home = tmp_path / "keras_home"
    monkeypatch.setenv("KERAS_HOME", str(home))
    return home


def test_idx_files_are_read_with_their_shapes_and_labels(tmp_path):
    images, labels, *_ = write_idx_set(tmp_path / "f")
    read = read_idx(tmp_path / "f" / IDX_FILES[0])
    assert read.shape == (40, 28, 28) and read.dtype == np.uint8
    assert np.array_equal(read, images)
    assert np.array_equal(read_idx(tmp_path / "f" / IDX_FILES[1]), labels)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda raw: raw[:-5], r"truncated or padded: its header announces shape \(40, 28, 28\)"),
        (lambda raw: b"\x08\x03" + raw[2:], "is not an IDX file"),
        (lambda raw: raw[:2] + b"\x0d" + raw[3:], r"IDX type 0x0d; only unsigned bytes"),
    ],
)
def test_damaged_idx_is_one_clear_error(tmp_path, damage, message):
    write_idx_set(tmp_path / "f")
    path = tmp_path / "f" / IDX_FILES[0]
    path.write_bytes(gzip.compress(damage(gzip.decompress(path.read_bytes()))))
    with pytest.raises(DatasetError, match=message):
        read_idx(path)


def test_fashion_mnist_keeps_its_test_split_and_subsamples_training(tmp_path, keras_home):
    _, _, test_images, _ = write_idx_set(tmp_path / "data")
    data = load_dataset(
        "fashion_mnist", (14, 14, 1), batch_size=8, data_dir=str(tmp_path / "data"), train_size=30
    )
    assert data.num_classes == 10
    # The official test split whole; 30 of the 40 training images, a fifth of them validating.
    assert data.sizes() == {"train": 24, "val": 6, "test": 20}
    labels = np.concatenate([y.numpy() for _, y in data.train] + [y.numpy() for _, y in data.val])
    assert np.bincount(labels, minlength=10).tolist() == [3] * 10  # stratified
    first, _ = next(iter(data.test))
    assert first.shape == (8, 14, 14, 1) and float(first.numpy().max()) <= 1.0


def test_search_order_is_data_dir_then_keras_cache(tmp_path, keras_home):
    write_idx_set(keras_home / "datasets" / "fashion-mnist", train=30)
    assert load_dataset("fashion_mnist", (28, 28, 1)).sizes()["train"] == 24
    write_idx_set(tmp_path / "mine" / "fashion-mnist", train=60)
    found = load_dataset("fashion_mnist", (28, 28, 1), data_dir=str(tmp_path / "mine"))
    assert found.sizes()["train"] == 48


def test_mnist_npz_from_the_keras_cache(keras_home):
    (keras_home / "datasets").mkdir(parents=True)
    np.savez(
        keras_home / "datasets" / "mnist.npz",
        x_train=RNG.integers(0, 256, (50, 28, 28), dtype=np.uint8),
        y_train=np.arange(50) % 10,
        x_test=RNG.integers(0, 256, (10, 28, 28), dtype=np.uint8),
        y_test=np.arange(10) % 10,
    )
    assert load_dataset("mnist", (28, 28, 1)).sizes() == {"train": 40, "val": 10, "test": 10}


def cifar_rows(count, classes):
    return RNG.integers(0, 256, (count, 3072), dtype=np.uint8), np.arange(count) % classes


def test_cifar10_python_batches_are_read_safely(keras_home):
    folder = keras_home / "datasets" / "cifar-10-batches-py-target" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data, labels = cifar_rows(20, 10)
        with open(folder / name, "wb") as handle:
            pickle.dump({b"data": data, b"labels": labels.tolist()}, handle)
    data = load_dataset("cifar10", (32, 32, 3))
    assert data.sizes() == {"train": 80, "val": 20, "test": 20}
    images, labels = read_cifar_python(folder / "test_batch", "labels", 10)
    assert images.shape == (20, 32, 32, 3) and labels.dtype == np.int64


class Payload:  # what a hostile file would make an unrestricted unpickler build
    def __reduce__(self):
        return (print, ("pwned",))


def test_a_cifar_file_with_anything_but_arrays_is_refused(tmp_path):
    with open(tmp_path / "batch", "wb") as handle:
        pickle.dump({b"data": Payload(), b"labels": [0]}, handle)
    with pytest.raises(
        DatasetError, match=r"not a CIFAR python batch: refusing to load builtins.print"
    ):
        read_cifar_python(tmp_path / "batch", "labels", 10)
    with open(tmp_path / "batch", "wb") as handle:
        pickle.dump({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}, handle)
    with pytest.raises(DatasetError, match="not a 2-D uint8 array"):
        read_cifar_python(tmp_path / "batch", "labels", 10)


def test_cifar100_binary_uses_the_fine_label(tmp_path, keras_home):
    folder = tmp_path / "cifar-100-binary"
    folder.mkdir()
    for name, count in (("train.bin", 30), ("test.bin", 10)):
        data, fine = cifar_rows(count, 100)
        coarse = fine // 5
        records = np.concatenate([coarse[:, None], (fine * 3 % 100)[:, None], data], axis=1)
        (folder / name).write_bytes(records.astype(np.uint8).tobytes())
    data = load_dataset("cifar100", (16, 16, 3), data_dir=str(tmp_path))
    assert data.num_classes == 100 and data.sizes() == {"train": 24, "val": 6, "test": 10}
    test_labels = np.concatenate([y.numpy() for _, y in data.test])
    assert test_labels.tolist() == [(i * 3) % 100 for i in range(10)]


def test_a_missing_data_set_names_every_place_and_the_command(tmp_path, keras_home, monkeypatch):
    # This machine may have the Debian package; the test looks in an empty stand-in instead.
    spec = KERAS_DATASETS["fashion_mnist"]
    assert spec.extra_places == (DEBIAN_FASHION_MNIST,)
    debian = str(tmp_path / "debian")
    monkeypatch.setitem(
        KERAS_DATASETS, "fashion_mnist", dataclasses.replace(spec, extra_places=(debian,))
    )
    with pytest.raises(DatasetError) as error:
        load_dataset("fashion_mnist", (28, 28, 1), data_dir=str(tmp_path / "mine"))
    message = str(error.value)
    assert (
        message.index(str(tmp_path / "mine" / "fashion-mnist"))
        < message.index(str(keras_home / "datasets" / "fashion-mnist"))
        < message.index(debian)
    )
    assert "`apt-get install dataset-fashion-mnist`" in message
    assert "`bottleneck-search search --dataset fashion_mnist --download`" in message


@pytest.mark.parametrize(
    "train_size, message",
    [
        (0, r"`train_size` must be an integer of at least 2 .* Received: train_size=0."),
        (500, r"train_size=500 is larger than the 40 training images there are"),
    ],
)
def test_bad_train_size(tmp_path, keras_home, train_size, message):
    write_idx_set(tmp_path / "data")
    with pytest.raises(DatasetError, match=message):
        load_dataset(
            "fashion_mnist", (28, 28, 1), data_dir=str(tmp_path / "data"), train_size=train_size
        )
