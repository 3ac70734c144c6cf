"""The classic data sets by their Keras names, found on disk and read with `data.formats`.

| name | images | classes | files looked for |
| --- | --- | --- | --- |
| `fashion_mnist` | 60,000 + 10,000 test, 28x28x1 | 10 | `fashion-mnist/` (the four IDX `.gz` files) |
| `mnist` | 60,000 + 10,000 test, 28x28x1 | 10 | `mnist.npz`, or `mnist/` with the four IDX files |
| `cifar10` | 50,000 + 10,000 test, 32x32x3 | 10 | `cifar-10-batches-py/` or `cifar-10-batches-bin/` |
| `cifar100` | 50,000 + 10,000 test, 32x32x3 | 100 (fine labels) | `cifar-100-python/` or `cifar-100-binary/` |

Where, in order: `data_dir` (the folders above inside it, or the files directly in it), the same
in the Keras data set cache (`$KERAS_HOME/datasets`, by default `~/.keras/datasets`, where
`keras.datasets` keeps what it downloads), and for Fashion-MNIST the Debian package
`dataset-fashion-mnist` (`/usr/share/datasets/fashion-mnist`). Nothing is downloaded unless
`download=True`, and then through `keras.datasets`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bottleneck_search.data.formats import (
    check_pair,
    read_cifar_binary,
    read_cifar_python,
    read_idx,
    read_npz_split,
)
from bottleneck_search.errors import DatasetError

DEBIAN_FASHION_MNIST = "/usr/share/datasets/fashion-mnist"
IDX_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@dataclasses.dataclass(frozen=True)
class KerasDataset:
    """One of the classic data sets: how many classes, where its files may be, how to read them."""

    name: str
    title: str
    num_classes: int
    folders: tuple[str, ...]  # relative to data_dir and to the Keras cache; "" is the root itself
    read: Callable[[Path], Arrays | None]  # None when the folder does not hold the files
    extra_places: tuple[str, ...] = ()
    install_hint: str = ""


def _read_idx_folder(folder: Path) -> Arrays | None:
    paths = [folder / name for name in IDX_FILES]
    if not all(path.is_file() for path in paths):
        return None
    x_train, y_train, x_test, y_test = (read_idx(path) for path in paths)
    check_pair(x_train, y_train, paths[:2])
    check_pair(x_test, y_test, paths[2:])
    return x_train, y_train.astype(np.int64), x_test, y_test.astype(np.int64)


def _read_mnist(folder: Path) -> Arrays | None:
    if (folder / "mnist.npz").is_file():
        return read_npz_split(folder / "mnist.npz")
    return _read_idx_folder(folder)


def _cifar_reader(train: tuple[str, ...], test: str, python_key: str, num_classes: int):
    label_bytes = 2 if num_classes == 100 else 1

    def read(folder: Path) -> Arrays | None:
        paths = [folder / name for name in (*train, test)]
        binary = [path.with_name(path.name + ".bin") for path in paths]
        if all(path.is_file() for path in paths):
            batches = [read_cifar_python(path, python_key, num_classes) for path in paths]
        elif all(path.is_file() for path in binary):
            batches = [read_cifar_binary(path, label_bytes) for path in binary]
        else:
            return None
        x_train = np.concatenate([images for images, _ in batches[:-1]])
        y_train = np.concatenate([labels for _, labels in batches[:-1]])
        return x_train, y_train, *batches[-1]

    return read


KERAS_DATASETS = {
    "fashion_mnist": KerasDataset(
        "fashion_mnist",
        "Fashion-MNIST",
        10,
        ("fashion-mnist", ""),
        _read_idx_folder,
        extra_places=(DEBIAN_FASHION_MNIST,),
        install_hint="`apt-get install dataset-fashion-mnist` (Debian, Ubuntu), ",
    ),
    "mnist": KerasDataset("mnist", "MNIST", 10, ("", "mnist"), _read_mnist),
    "cifar10": KerasDataset(
        "cifar10",
        "CIFAR-10",
        10,
        (
            "cifar-10-batches-py-target/cifar-10-batches-py",
            "cifar-10-batches-py",
            "cifar-10-batches-bin",
            "",
        ),
        _cifar_reader(tuple(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "labels", 10),
    ),
    "cifar100": KerasDataset(
        "cifar100",
        "CIFAR-100",
        100,
        (
            "cifar-100-python-target/cifar-100-python",
            "cifar-100-python",
            "cifar-100-binary",
            "",
        ),
        _cifar_reader(("train",), "test", "fine_labels", 100),
    ),
}


def keras_cache_dir() -> Path:
    """Where `keras.datasets` keeps its files: `$KERAS_HOME/datasets`, else `~/.keras/datasets`."""
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras") / "datasets"


def load_keras_dataset(name: str, data_dir: str | None, download: bool) -> Arrays:
    """`(x_train, y_train, x_test, y_test)` of a classic data set, from the first place that has it.

    Raises:
        DatasetError: a file is damaged, or the data set is nowhere (naming every place looked in
            and the command that gets it).
    """
    spec = KERAS_DATASETS[name]
    looked: list[str] = []
    for folder in _places(spec, data_dir):
        looked.append(str(folder))
        if folder.is_dir():
            arrays = spec.read(folder)
            if arrays is not None:
                return arrays
    if download:
        return _download(spec)
    raise DatasetError(
        f"{spec.title} is not on this machine; looked in {', '.join(looked)}. Get it with "
        f"{spec.install_hint}`bottleneck-search search --dataset {name} --download` (through "
        f"keras.datasets, needs internet), or put its files in data_dir (--data-dir)."
    )


def _places(spec: KerasDataset, data_dir: str | None) -> list[Path]:
    roots = [Path(data_dir)] if data_dir else []
    places = [root / folder for root in [*roots, keras_cache_dir()] for folder in spec.folders]
    places += [Path(place) for place in spec.extra_places]
    return list(dict.fromkeys(places))


def _download(spec: KerasDataset) -> Arrays:
    import keras

    loader = getattr(keras.datasets, spec.name)
    try:
        if spec.name == "cifar100":
            (x_train, y_train), (x_test, y_test) = loader.load_data(label_mode="fine")
        else:
            (x_train, y_train), (x_test, y_test) = loader.load_data()
    except Exception as error:  # network and archive failures come in many types
        raise DatasetError(
            f"{spec.title} could not be downloaded ({type(error).__name__}: {error})."
        ) from error
    return (
        x_train,
        y_train.reshape(-1).astype(np.int64),
        x_test,
        y_test.reshape(-1).astype(np.int64),
    )
