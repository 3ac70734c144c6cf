"""`load_dataset`: every data set a search can use, as `tf.data` pipelines adapted to a space.

Specs: `digits` (scikit-learn's bundled handwritten digits, offline), the Keras names
`fashion_mnist`, `mnist`, `cifar10`, `cifar100` (read from disk: see `data.keras_datasets`),
`tfds:NAME` or `tfds:NAME[split]` (TensorFlow Datasets), `folder:PATH` (one sub-folder per class).
`npz:PATH` (a NumPy archive of `x` and `y`, see `data.formats.write_npz`). From Python, `(x, y)`
NumPy arrays, an unbatched `tf.data.Dataset` of `(image, label)` pairs, or a
`keras.utils.PyDataset` of `(images, labels)` batches.

Labels are class indices (one non-negative integer per image: stratified cuts, `num_classes`) or,
anything else, targets (regression values, masks, a tuple of several outputs' arrays) passed to
the loss as they are. Targets laid out like the images (masks) are never resized, so their
images must already have the model's height and width.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from bottleneck_search.data.dataset import (
    Dataset,
    Split,
    adapter,
    check_input_shape,
    pipelines,
    split_indices,
)
from bottleneck_search.data.in_memory import (
    Labels,
    check_element_spec,
    dataset_arrays,
    holds_class_labels,
    in_memory_arrays,
    is_targets,
    py_dataset_arrays,
)
from bottleneck_search.data.keras_datasets import KERAS_DATASETS, load_keras_dataset
from bottleneck_search.errors import DatasetError

VALID_FORMS = (
    "digits, fashion_mnist, mnist, cifar10, cifar100, tfds:NAME, tfds:NAME[SPLIT], folder:PATH, "
    "npz:PATH (or, from Python, (x, y) arrays, a tf.data.Dataset or a keras.utils.PyDataset)"
)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
_TFDS_SPEC = re.compile(r"^tfds:(?P<name>[A-Za-z0-9_./:-]+?)(\[(?P<split>[^\]]+)\])?$")


def load_dataset(
    spec,
    input_shape: Sequence[int],
    batch_size: int = 32,
    val_fraction: float = 0.2,
    seed: int = 0,
    data_dir: str | None = None,
    download: bool = False,
    train_size: int | None = None,
    test_fraction: float = 0.15,
    value_range: tuple[float, float] = (0.0, 1.0),
) -> Dataset:
    """Loads a data set, splits it three ways and adapts it to `input_shape`.

    Images become float32 in [0, 1] (or `value_range`: raw pixels `(0, 255)` for a model that
    rescales them itself), resized bilinearly to the space's height and width, grey <-> RGB as
    needed (grey copied to the three channels; RGB to grey by ITU-R 601 luma). The test split is the data set's own where it has one, else a held-out
    `test_fraction`; validation is `val_fraction` of the (subsampled) training data. Every cut is
    seeded, and stratified by label for data held in memory.

    Args:
        spec: a data set name or spec (see the module docstring), `(x, y)` arrays, an unbatched
            `tf.data.Dataset` of `(image, label)`, or a `keras.utils.PyDataset`.
        input_shape: `(height, width, channels)` of the space; channels 1 or 3.
        batch_size: batch size of the pipelines.
        val_fraction: share of the training data held out for validation.
        seed: seed of the cuts and the shuffling.
        data_dir: where to look first for the Keras-named data sets; TFDS' data directory.
        download: let `keras.datasets` or TFDS download a data set that is not on disk.
        train_size: train and validate on this many images of the training split only (a
            seeded, stratified subsample) to keep searches short.
        test_fraction: share held out for testing where the data set has no test split.
        value_range: `(low, high)` the pixels are mapped to: [0, 1] scaled linearly onto it.

    Returns:
        A `Dataset`.

    Raises:
        DatasetError: unknown spec, data not available or damaged, too small, or not adaptable.

    Example:

    ```python
    data = load_dataset("digits", (32, 32, 3))
    images, labels = next(iter(data.train))   # images (32, 32, 32, 3) in [0, 1], labels 0..9
    assert data.num_classes == 10 and images.shape[1:] == (32, 32, 3)
    assert data.sizes() == {"train": 1222, "val": 305, "test": 270}
    ```
    """
    shape = check_input_shape(input_shape)
    split = Split(batch_size, val_fraction, test_fraction, train_size, seed, tuple(value_range))
    split.check()
    if isinstance(spec, tuple) and len(spec) == 2:
        return _from_arrays(*in_memory_arrays(spec), None, "arrays", shape, split)
    if isinstance(spec, tf.data.Dataset):
        check_element_spec(spec.element_spec, "tf.data")
        if holds_class_labels(spec.element_spec[1]):
            return _from_dataset(spec, None, "tf.data", shape, split)
        return _from_arrays(*dataset_arrays(spec, "tf.data"), None, "tf.data", shape, split)
    if isinstance(spec, keras.utils.PyDataset):
        return _from_arrays(*py_dataset_arrays(spec), None, "PyDataset", shape, split)
    if not isinstance(spec, str):
        raise DatasetError(f"Unknown data set {spec!r}. Valid forms: {VALID_FORMS}.")
    if spec == "digits":
        from sklearn.datasets import load_digits

        digits = load_digits()  # bundled with scikit-learn: 1,797 8x8 images, values 0..16
        return _from_arrays(digits.images / 16.0, digits.target, 10, "digits", shape, split)
    if spec in KERAS_DATASETS:
        x_train, y_train, x_test, y_test = load_keras_dataset(spec, data_dir, download)
        classes = KERAS_DATASETS[spec].num_classes
        return _from_arrays(x_train, y_train, classes, spec, shape, split, (x_test, y_test))
    if spec.startswith("folder:"):
        return _folder(spec[len("folder:") :], shape, split)
    if spec.startswith("npz:"):
        return _from_npz(spec[len("npz:") :], shape, split)
    match = _TFDS_SPEC.match(spec)
    if match:
        return _tfds(match["name"], match["split"], data_dir, download, shape, split)
    raise DatasetError(f"Unknown data set '{spec}'. Valid forms: {VALID_FORMS}.")


def _from_arrays(x, y, num_classes, name, shape, split: Split, test=None) -> Dataset:
    """A `Dataset` of arrays; `num_classes` None: counted from class labels (or targets)."""
    targets = is_targets(y)
    for images, labels in [(x, y), *([test] if test is not None else [])]:
        counts = {len(part) for part in (labels if isinstance(labels, tuple) else (labels,))}
        if len(images) == 0 or counts != {len(images)}:
            raise DatasetError(
                f"{name}: need as many labels as images, and at least one. Received "
                f"{len(images)} images, {' and '.join(str(c) for c in sorted(counts))} labels."
            )
        if images.ndim not in (3, 4):
            raise DatasetError(
                f"{name}: images must have shape (n, height, width[, channels]). Received "
                f"{images.shape}."
            )
        if is_targets(labels) != targets:
            raise DatasetError(
                f"{name}: the test labels are not in the form of the training labels."
            )
        if not targets and np.min(labels) < 0:
            raise DatasetError(
                f"{name}: class labels must be non-negative integers (targets of a regression "
                "are floats: pass them as float32)."
            )
    if targets:
        _check_spatial_targets(x, y, shape, name)
        num_classes = None
    else:
        num_classes = num_classes or int(y.max()) + 1
    # uint8 images stay uint8 in memory and are scaled in the pipeline.
    scale = 255.0 if x.dtype == np.uint8 or x.max() > 16 else float(max(x.max(), 1.0))
    if x.dtype != np.uint8:
        x = x.astype(np.float32)
    train, val, held = split_indices(len(x) if targets else y, split, test is not None, name)
    x_test, y_test = test if test is not None else (x[held], _take(y, held))
    if test is not None and x_test.dtype != np.uint8:
        x_test = x_test.astype(np.float32)
    parts = [
        tf.data.Dataset.from_tensor_slices((images, labels))
        for images, labels in (
            (x[train], _take(y, train)),
            (x[val], _take(y, val)),
            (x_test, y_test),
        )
    ]
    adapt = adapter(*shape, scale, split.value_range, targets)
    streams = pipelines(*parts, adapt, split, len(train))
    return Dataset(*streams, num_classes, name, len(train), len(val), len(x_test))


def _take(labels: Labels, indices: np.ndarray) -> Labels:
    return tuple(part[indices] for part in labels) if isinstance(labels, tuple) else labels[indices]


def _check_spatial_targets(x: np.ndarray, y: Labels, shape, name: str) -> None:
    """Refuses targets laid out like the images (masks) when the images would be resized: only
    the images are, so the two would no longer match."""
    spatial = [part.shape for part in (y if isinstance(y, tuple) else (y,)) if part.ndim >= 3]
    if spatial and tuple(x.shape[1:3]) != tuple(shape[:2]):
        raise DatasetError(
            f"{name}: images of {x.shape[1]}x{x.shape[2]} would be resized to the model's "
            f"{shape[0]}x{shape[1]}, but targets of shape {spatial[0]} are laid out like them "
            "and are not resized. Resize images and targets together to the model's input first."
        )


def _from_npz(path: str, shape, split: Split) -> Dataset:
    """An `npz:` file (see `write_npz`): `x`, `y` (or `y_0`, `y_1`, ... for several outputs) and
    optionally `x_test` with its labels."""
    from bottleneck_search.data.formats import read_npz

    x, y, test = read_npz(path)
    return _from_arrays(x, y, None, f"npz:{path}", shape, split, test)


def _from_dataset(dataset, test, name, shape, split: Split, num_classes=None) -> Dataset:
    spec = dataset.element_spec
    check_element_spec(spec, name)
    labels = np.fromiter((int(label) for _, label in dataset), dtype=np.int64)
    if len(labels) < 3:
        raise DatasetError(f"{name}: needs at least 3 examples; it has {len(labels)}.")
    train, val, held = split_indices(labels, split, test is not None, name)
    if test is None:
        test, test_size = _pick(dataset, held), len(held)
    else:
        test_size = sum(1 for _ in test)
    scale = 255.0 if spec[0].dtype == tf.uint8 else 1.0
    streams = pipelines(
        _pick(dataset, train),
        _pick(dataset, val),
        test,
        adapter(*shape, scale, split.value_range),
        split,
        min(len(train), 10_000),
    )
    num_classes = num_classes or int(labels.max()) + 1
    return Dataset(*streams, num_classes, name, len(train), len(val), test_size)


def _pick(dataset: tf.data.Dataset, indices: np.ndarray) -> tf.data.Dataset:
    """The examples of `dataset` at `indices` (in order), by one pass over it."""
    wanted = tf.constant(np.isin(np.arange(indices.max() + 1 if len(indices) else 0), indices))
    size = int(wanted.shape[0])
    return (
        dataset.take(size)
        .enumerate()
        .filter(lambda i, _: tf.gather(wanted, i))
        .map(lambda _, example: example)
    )


def _folder(path, shape, split: Split) -> Dataset:
    if not os.path.isdir(path):
        raise DatasetError(f"Image folder '{path}' does not exist or is not a directory.")
    classes = sorted(entry.name for entry in os.scandir(path) if entry.is_dir())
    if not classes:
        raise DatasetError(
            f"Image folder '{path}' has no class sub-folders; expected PATH/<class>/<image files>."
        )
    files, labels = [], []
    for label, name in enumerate(classes):
        for entry in sorted(os.scandir(os.path.join(path, name)), key=lambda e: e.name):
            if entry.is_file() and entry.name.lower().endswith(IMAGE_SUFFIXES):
                files.append(entry.path)
                labels.append(label)
    if len(files) < 3:
        raise DatasetError(
            f"Image folder '{path}' has {len(files)} images in its class sub-folders "
            f"({', '.join(classes)}); need at least 3 files ending in {', '.join(IMAGE_SUFFIXES)}."
        )
    files, labels = np.array(files), np.array(labels, dtype=np.int64)
    train, val, test = split_indices(labels, split, False, f"Image folder '{path}'")

    def decoded(indices):
        paths = tf.data.Dataset.from_tensor_slices((files[indices], labels[indices]))
        return paths.map(
            lambda file, label: (
                tf.io.decode_image(tf.io.read_file(file), channels=3, expand_animations=False),
                label,
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
        )

    streams = pipelines(
        decoded(train),
        decoded(val),
        decoded(test),
        adapter(*shape, 255.0, split.value_range),
        split,
        len(train),
    )
    return Dataset(*streams, len(classes), f"folder:{path}", len(train), len(val), len(test))


def _tfds(name, split_name, data_dir, download, shape, split: Split) -> Dataset:
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        raise DatasetError(
            f"TFDS has no data set named '{name}'. See `tfds.list_builders()` for the names."
        ) from None
    if download:
        try:
            builder.download_and_prepare()
        except Exception as error:  # network and disk failures come in many types from TFDS
            raise DatasetError(
                f"TFDS data set '{name}' could not be downloaded ({type(error).__name__}: {error}). "
                f"Prepare it where you have internet: `tfds build {name}`."
            ) from error
    supervised = builder.info.supervised_keys
    if not supervised:
        raise DatasetError(f"TFDS data set '{name}' has no (image, label) supervised keys.")
    label_feature = builder.info.features[supervised[1]]
    num_classes = getattr(label_feature, "num_classes", None)
    if not num_classes:
        raise DatasetError(f"TFDS data set '{name}': label '{supervised[1]}' is not a class label.")
    try:
        dataset = builder.as_dataset(
            split=split_name or "train", as_supervised=True, shuffle_files=False
        )
        # Without an explicit split: test on the data set's "test" split when it has one.
        test = _tfds_test_split(builder) if split_name is None else None
    except AssertionError:
        # TFDS signals "not prepared in data_dir" with an AssertionError.
        raise DatasetError(
            f"TFDS data set '{name}' is not available offline in {data_dir or builder.data_dir}. "
            f"Prepare it where you have internet: `tfds build {name}"
            + (f" --data_dir {data_dir}`" if data_dir else "`")
            + ", or pass download=True (--download) to let TFDS fetch it."
        ) from None
    except (ValueError, KeyError) as error:
        raise DatasetError(
            f"TFDS data set '{name}' has no split '{split_name}': {error}."
        ) from error
    data = _from_dataset(dataset, test, f"tfds:{name}", shape, split, num_classes)
    return dataclasses.replace(data, num_classes=num_classes)


def _tfds_test_split(builder) -> tf.data.Dataset | None:
    try:
        return builder.as_dataset(split="test", as_supervised=True, shuffle_files=False)
    except (ValueError, KeyError):
        return None
