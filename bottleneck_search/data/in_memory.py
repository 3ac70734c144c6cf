"""Data sets held in memory from Python: `(x, y)` arrays, an unbatched `tf.data.Dataset`, a
`keras.utils.PyDataset`, as arrays; and whether their labels are class indices or targets."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from bottleneck_search.errors import DatasetError

# Class indices, or one output's targets; a tuple: several outputs' targets.
Labels = np.ndarray | tuple


def py_dataset_arrays(dataset) -> tuple[np.ndarray, Labels]:
    """Every `(images, labels)` batch of a `keras.utils.PyDataset`, as arrays (it is split and
    re-batched like arrays); labels of several outputs (a tuple or list per batch) stay a tuple."""
    batches = [dataset[index] for index in range(len(dataset))]
    if not batches or not all(isinstance(b, tuple) and len(b) >= 2 for b in batches):
        raise DatasetError(
            "PyDataset: expected batches of (images, labels); received "
            f"{type(batches[0]).__name__ if batches else 'no batch'}."
        )
    images = np.concatenate([np.asarray(b[0]) for b in batches])
    if isinstance(batches[0][1], tuple | list):
        parts = range(len(batches[0][1]))
        return images, tuple(np.concatenate([np.asarray(b[1][i]) for b in batches]) for i in parts)
    return images, np.concatenate([np.asarray(b[1]) for b in batches])


def dataset_arrays(dataset: tf.data.Dataset, name: str) -> tuple[np.ndarray, Labels]:
    """An unbatched `(image, targets)` `tf.data.Dataset` as arrays (targets: see `is_targets`)."""
    images, labels = [], []
    for image, label in dataset.as_numpy_iterator():
        images.append(image)
        labels.append(label)
    if not images:
        raise DatasetError(f"{name}: the data set is empty.")
    if isinstance(labels[0], tuple | list):
        return np.stack(images), tuple(np.stack(part) for part in zip(*labels, strict=True))
    return np.stack(images), np.stack(labels)


def is_targets(labels: Labels) -> bool:
    """Whether `labels` are targets passed to the loss as they are, rather than class indices:
    anything but one integer per example (floats, masks, several outputs' arrays)."""
    return (
        isinstance(labels, tuple) or labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer)
    )


def in_memory_arrays(spec) -> tuple[np.ndarray, Labels]:
    """`(x, y)` arrays of a data set held in memory: `(x, y)` (y: an array, or a tuple or list of
    several outputs' arrays), an unbatched `tf.data.Dataset`, or a `keras.utils.PyDataset`.

    Raises:
        DatasetError: `spec` holds no data in one of those forms.
    """
    if isinstance(spec, tuple) and len(spec) == 2:
        x, y = spec
        y = tuple(np.asarray(part) for part in y) if isinstance(y, tuple | list) else np.asarray(y)
        return np.asarray(x), y
    if isinstance(spec, tf.data.Dataset):
        check_element_spec(spec.element_spec, "tf.data")
        return dataset_arrays(spec, "tf.data")
    if isinstance(spec, keras.utils.PyDataset):
        return py_dataset_arrays(spec)
    raise DatasetError(
        f"{type(spec).__name__} is not data held in memory: pass (x, y) arrays, an unbatched "
        "tf.data.Dataset or a keras.utils.PyDataset."
    )


def check_element_spec(spec, name: str) -> None:
    if not (isinstance(spec, tuple) and len(spec) == 2):
        raise DatasetError(
            f"{name}: expected an unbatched dataset of (image, label) pairs. Received element spec {spec}."
        )
    if spec[0].shape.rank not in (2, 3):
        raise DatasetError(
            f"{name}: images must be unbatched (height, width[, channels]); received shape {spec[0].shape}. "
            "Call .unbatch() first."
        )


def holds_class_labels(label_spec) -> bool:
    """Whether a `tf.data` label is one class index per example (else targets, see `is_targets`)."""
    return (
        isinstance(label_spec, tf.TensorSpec)
        and label_spec.shape.rank == 0
        and label_spec.dtype.is_integer
    )
