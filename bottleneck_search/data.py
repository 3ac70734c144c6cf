"""Data sets for search jobs, as batched, prefetched `tf.data` pipelines adapted to a space's input.

Specs: `digits` (scikit-learn's bundled handwritten digits, offline), `tfds:NAME` or
`tfds:NAME[split]` (TensorFlow Datasets), `folder:PATH` (one sub-folder per class). From Python,
`(x, y)` NumPy arrays or an unbatched `tf.data.Dataset` of `(image, label)` pairs work too.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from bottleneck_search.errors import DatasetError

VALID_FORMS = "digits, tfds:NAME, tfds:NAME[SPLIT], folder:PATH (or, from Python, (x, y) arrays or a tf.data.Dataset)"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
_TFDS_SPEC = re.compile(r"^tfds:(?P<name>[A-Za-z0-9_./:-]+?)(\[(?P<split>[^\]]+)\])?$")


@dataclasses.dataclass(frozen=True)
class Dataset:
    """Train and validation pipelines plus what a search needs to know about them.

    Attributes:
        train: batched, shuffled, prefetched `(image, label)` pipeline.
        val: batched, prefetched validation pipeline (a fixed split).
        num_classes: number of classes (labels are integers `0..num_classes-1`).
        name: the spec it came from.
        train_size, val_size: example counts, when known.
    """

    train: tf.data.Dataset
    val: tf.data.Dataset
    num_classes: int
    name: str
    train_size: int | None = None
    val_size: int | None = None


def load_dataset(
    spec,
    input_shape: Sequence[int],
    batch_size: int = 32,
    val_fraction: float = 0.2,
    seed: int = 0,
    data_dir: str | None = None,
    download: bool = False,
) -> Dataset:
    """Loads a data set and adapts it to `input_shape` (resize, channel count, scaling to [0, 1]).

    Args:
        spec: `"digits"`, `"tfds:NAME[split]"`, `"folder:PATH"`, `(x, y)` arrays, or an unbatched
            `tf.data.Dataset` of `(image, label)`.
        input_shape: `(height, width, channels)` of the space; channels 1 or 3.
        batch_size: batch size of both pipelines.
        val_fraction: share held out for validation (a fixed, seeded split; stratified for digits).
        seed: seed of the split and the shuffling.
        data_dir: TFDS data directory.
        download: let TFDS download and prepare a data set that is not on disk yet.

    Returns:
        A `Dataset`.

    Raises:
        DatasetError: unknown spec, data not available, empty, or not adaptable.

    Example:

    ```python
    data = load_dataset("digits", (32, 32, 3))
    images, labels = next(iter(data.train))   # images (32, 32, 32, 3) in [0, 1], labels 0..9
    assert data.num_classes == 10 and images.shape[1:] == (32, 32, 3)
    ```
    """
    height, width, channels = _check_input_shape(input_shape)
    if not 0 < val_fraction < 1:
        raise DatasetError(f"val_fraction must be in (0, 1). Received: {val_fraction}.")
    adapt = _adapter(height, width, channels)
    if isinstance(spec, tuple) and len(spec) == 2:
        x, y = (np.asarray(a) for a in spec)
        return _from_arrays(x, y, None, "arrays", adapt, batch_size, val_fraction, seed)
    if isinstance(spec, tf.data.Dataset):
        return _from_dataset(spec, "tf.data", adapt, batch_size, val_fraction, seed)
    if not isinstance(spec, str):
        raise DatasetError(f"Unknown data set {spec!r}. Valid forms: {VALID_FORMS}.")
    if spec == "digits":
        return _digits(adapt, batch_size, val_fraction, seed)
    if spec.startswith("folder:"):
        return _folder(
            spec[len("folder:") :], (height, width, channels), batch_size, val_fraction, seed, adapt
        )
    match = _TFDS_SPEC.match(spec)
    if match:
        return _tfds(
            match["name"], match["split"], data_dir, download, adapt, batch_size, val_fraction, seed
        )
    raise DatasetError(f"Unknown data set '{spec}'. Valid forms: {VALID_FORMS}.")


def _check_input_shape(input_shape):
    if len(input_shape) != 3 or input_shape[2] not in (1, 3):
        raise DatasetError(
            f"Data cannot be adapted to the space's input {tuple(input_shape)}: images are resized "
            "and converted between 1 and 3 channels only, so the space needs (height, width, 1 or 3)."
        )
    return tuple(int(d) for d in input_shape)


def _adapter(height: int, width: int, channels: int):
    def adapt(image, label):
        image = tf.cast(image, tf.float32)
        if image.shape.rank == 2:
            image = image[..., tf.newaxis]
        have = image.shape[-1]
        if have == 1 and channels == 3:
            image = tf.image.grayscale_to_rgb(image)
        elif have == 3 and channels == 1:
            image = tf.image.rgb_to_grayscale(image)
        elif have != channels:
            raise DatasetError(
                f"Images with {have} channels cannot be adapted to the space's {channels} channels "
                "(only 1 <-> 3 is converted)."
            )
        image = tf.image.resize(image, (height, width))
        return image, tf.cast(label, tf.int32)

    return adapt


def _pipelines(train, val, adapt, batch_size, seed, shuffle_buffer):
    train = train.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    train = (
        train.map(adapt, num_parallel_calls=tf.data.AUTOTUNE)
        .batch(batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )
    val = (
        val.map(adapt, num_parallel_calls=tf.data.AUTOTUNE)
        .batch(batch_size)
        .cache()
        .prefetch(tf.data.AUTOTUNE)
    )
    return train, val


def _from_arrays(
    x, y, num_classes, name, adapt, batch_size, val_fraction, seed, stratify=True
) -> Dataset:
    from sklearn.model_selection import train_test_split

    if len(x) == 0 or len(x) != len(y):
        raise DatasetError(
            f"{name}: need as many labels as images, and at least one. Received {len(x)} images, {len(y)} labels."
        )
    if x.ndim not in (3, 4):
        raise DatasetError(
            f"{name}: images must have shape (n, height, width[, channels]). Received {x.shape}."
        )
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
        raise DatasetError(f"{name}: labels must be non-negative integers.")
    num_classes = num_classes or int(y.max()) + 1
    scale = 255.0 if x.dtype == np.uint8 or x.max() > 16 else float(max(x.max(), 1.0))
    x = (x.astype(np.float32) / scale).astype(np.float32)
    classes_present = len(np.unique(y))
    stratify_by = (
        y if stratify and classes_present > 1 and len(y) * val_fraction >= classes_present else None
    )
    x_train, x_val, y_train, y_val = train_test_split(
        x, y, test_size=val_fraction, random_state=seed, stratify=stratify_by
    )
    train = tf.data.Dataset.from_tensor_slices((x_train, y_train))
    val = tf.data.Dataset.from_tensor_slices((x_val, y_val))
    train, val = _pipelines(train, val, adapt, batch_size, seed, len(x_train))
    return Dataset(train, val, num_classes, name, len(x_train), len(x_val))


def _digits(adapt, batch_size, val_fraction, seed) -> Dataset:
    from sklearn.datasets import load_digits

    digits = load_digits()  # bundled with scikit-learn: 1,797 8x8 images, values 0..16
    x = digits.images.astype(np.float32) / 16.0
    return _from_arrays(x, digits.target, 10, "digits", adapt, batch_size, val_fraction, seed)


def _from_dataset(dataset, name, adapt, batch_size, val_fraction, seed) -> Dataset:
    spec = dataset.element_spec
    if not (isinstance(spec, tuple) and len(spec) == 2):
        raise DatasetError(
            f"{name}: expected an unbatched dataset of (image, label) pairs. Received element spec {spec}."
        )
    if spec[0].shape.rank not in (2, 3):
        raise DatasetError(
            f"{name}: images must be unbatched (height, width[, channels]); received shape {spec[0].shape}. "
            "Call .unbatch() first."
        )
    count = int(dataset.cardinality())
    if count < 0:
        count = sum(1 for _ in dataset)
    if count < 2:
        raise DatasetError(f"{name}: needs at least 2 examples; it has {count}.")
    labels = np.fromiter((int(label) for _, label in dataset), dtype=np.int64, count=count)
    val_count = max(1, round(count * val_fraction))
    val, train = dataset.take(val_count), dataset.skip(val_count)
    scale_hint = spec[0].dtype == tf.uint8

    def scaled(image, label):
        image, label = adapt(image, label)
        return (image / 255.0 if scale_hint else image), label

    train, val = _pipelines(train, val, scaled, batch_size, seed, min(count, 10_000))
    return Dataset(train, val, int(labels.max()) + 1, name, count - val_count, val_count)


def _folder(path, shape, batch_size, val_fraction, seed, adapt) -> Dataset:
    import keras

    if not os.path.isdir(path):
        raise DatasetError(f"Image folder '{path}' does not exist or is not a directory.")
    classes = sorted(entry.name for entry in os.scandir(path) if entry.is_dir())
    if not classes:
        raise DatasetError(
            f"Image folder '{path}' has no class sub-folders; expected PATH/<class>/<image files>."
        )
    images = sum(
        1
        for name in classes
        for entry in os.scandir(os.path.join(path, name))
        if entry.is_file() and entry.name.lower().endswith(IMAGE_SUFFIXES)
    )
    if images < 2:
        raise DatasetError(
            f"Image folder '{path}' has {images} images in its class sub-folders ({', '.join(classes)}); "
            f"need at least 2 files ending in {', '.join(IMAGE_SUFFIXES)}."
        )
    try:
        train, val = keras.utils.image_dataset_from_directory(
            path,
            labels="inferred",
            label_mode="int",
            color_mode="rgb" if shape[2] == 3 else "grayscale",
            image_size=shape[:2],
            batch_size=None,
            shuffle=True,
            seed=seed,
            validation_split=val_fraction,
            subset="both",
            verbose=False,
        )
    except ValueError as error:
        raise DatasetError(f"Image folder '{path}': {str(error).splitlines()[0]}") from error
    train_size, val_size = int(train.cardinality()), int(val.cardinality())
    if train_size < 1 or val_size < 1:
        raise DatasetError(
            f"Image folder '{path}' has too few images to hold out a validation split ({train_size + val_size} found)."
        )

    def scaled(image, label):
        image, label = adapt(image, label)
        return image / 255.0, label

    train, val = _pipelines(train, val, scaled, batch_size, seed, max(train_size, 1))
    return Dataset(train, val, len(classes), f"folder:{path}", train_size, val_size)


def _tfds(name, split, data_dir, download, adapt, batch_size, val_fraction, seed) -> Dataset:
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
    split = split or "train"
    try:
        dataset = builder.as_dataset(split=split, as_supervised=True, shuffle_files=False)
    except AssertionError:
        # TFDS signals "not prepared in data_dir" with an AssertionError.
        raise DatasetError(
            f"TFDS data set '{name}' is not available offline in {data_dir or builder.data_dir}. "
            f"Prepare it where you have internet: `tfds build {name}"
            + (f" --data_dir {data_dir}`" if data_dir else "`")
            + ", or pass --download to let TFDS fetch it."
        ) from None
    except (ValueError, KeyError) as error:
        raise DatasetError(f"TFDS data set '{name}' has no split '{split}': {error}.") from error
    data = _from_dataset(dataset, f"tfds:{name}", adapt, batch_size, val_fraction, seed)
    return dataclasses.replace(data, num_classes=num_classes)
