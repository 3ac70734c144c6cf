"""Data sets: digits, arrays, tf.data, image folders and TFDS (through its mock data)."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from PIL import Image

from bottleneck_search import DatasetError, load_dataset


def test_digits_is_resized_to_the_space_with_fixed_stratified_splits():
    data = load_dataset("digits", (32, 32, 3), batch_size=64)
    # 15% of 1,797 held out for testing, then 20% of the rest for validation.
    assert data.num_classes == 10
    assert data.sizes() == {"train": 1222, "val": 305, "test": 270}
    images, labels = next(iter(data.train))
    assert images.shape == (64, 32, 32, 3) and images.dtype == tf.float32
    assert float(tf.reduce_min(images)) >= 0.0 and float(tf.reduce_max(images)) <= 1.0
    assert np.array_equal(images[..., 0], images[..., 2])  # grey copied to three channels
    val_labels = np.concatenate([y.numpy() for _, y in data.val])
    assert np.bincount(val_labels).min() >= 29  # stratified: about 30 of each digit
    again = load_dataset("digits", (8, 8, 1))
    # The splits do not depend on the input size, and no image is in two of them.
    assert np.array_equal(val_labels, np.concatenate([y.numpy() for _, y in again.val]))
    parts = [
        np.concatenate([x.numpy() for x, _ in part])
        for part in (again.train, again.val, again.test)
    ]
    rows = {
        part: {image.tobytes() for image in images}
        for part, images in zip("tvs", parts, strict=True)
    }
    assert (
        not (rows["t"] & rows["v"]) and not (rows["t"] & rows["s"]) and not (rows["v"] & rows["s"])
    )


def test_numpy_arrays():
    x = np.random.default_rng(0).integers(0, 256, (40, 10, 10, 3), dtype=np.uint8)
    y = np.arange(40) % 4
    data = load_dataset((x, y), (8, 8, 1), batch_size=8, val_fraction=0.25, test_fraction=0.2)
    assert data.num_classes == 4 and data.sizes() == {"train": 24, "val": 8, "test": 8}
    assert next(iter(data.val))[0].shape == (8, 8, 8, 1)


def test_unbatched_tf_data():
    x = np.zeros((20, 6, 6), np.float32)
    dataset = tf.data.Dataset.from_tensor_slices((x, np.arange(20) % 2))
    data = load_dataset(dataset, (12, 12, 3), batch_size=5, test_fraction=0.25)
    assert data.num_classes == 2 and data.sizes() == {"train": 12, "val": 3, "test": 5}
    assert sum(len(y) for _, y in data.test) == 5
    assert next(iter(data.train))[0].shape == (5, 12, 12, 3)


def test_targets_pass_as_given_and_split_at_random():
    rng = np.random.default_rng(0)
    x = rng.random((40, 8, 8, 1)).astype(np.float32)
    values = rng.random((40, 2)).astype(np.float32)  # a regression's targets
    data = load_dataset((x, values), (8, 8, 1), batch_size=40, test_fraction=0.25)
    assert data.num_classes is None and data.sizes() == {"train": 24, "val": 6, "test": 10}
    _, labels = next(iter(data.train))
    assert labels.dtype == tf.float32 and labels.shape == (24, 2)
    # The split keeps each image with its own target (they were drawn together).
    images, targets = next(iter(data.val))
    rows = {tuple(np.round(v, 6)): i for i, v in enumerate(values)}
    for image, target in zip(images.numpy(), targets.numpy(), strict=True):
        assert np.array_equal(image, x[rows[tuple(np.round(target, 6))]])

    masks = (x[..., 0] > 0.5).astype(np.int64)  # a segmentation's per-pixel classes
    two = load_dataset((x, (masks, values)), (8, 8, 1), batch_size=40, test_fraction=0.25)
    _, (mask_batch, value_batch) = next(iter(two.train))
    assert mask_batch.dtype == tf.int64 and mask_batch.shape == (24, 8, 8)
    assert value_batch.shape == (24, 2)
    with pytest.raises(
        DatasetError, match="targets of shape \\(40, 8, 8\\) are laid out like them"
    ):
        load_dataset((x, masks), (16, 16, 1))  # masks are never resized with their images


def test_an_npz_file_round_trips_targets_of_several_outputs(tmp_path):
    from bottleneck_search.data.formats import write_npz

    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (30, 8, 8), dtype=np.uint8)
    y = (rng.integers(0, 3, 30), rng.random(30).astype(np.float32))
    with open(tmp_path / "mine.npz", "wb") as handle:
        write_npz(handle, x, y)
    data = load_dataset(f"npz:{tmp_path / 'mine.npz'}", (8, 8, 1), batch_size=30)
    images, (classes, values) = next(iter(data.train))
    assert data.num_classes is None and float(tf.reduce_max(images)) <= 1.0
    assert classes.dtype == tf.int64 and values.dtype == tf.float32
    np.savez(tmp_path / "bad.npz", images=x)
    with pytest.raises(DatasetError, match="needs 'x' \\(images\\) and 'y'"):
        load_dataset(f"npz:{tmp_path / 'bad.npz'}", (8, 8, 1))
    np.savez(tmp_path / "objects.npz", x=x, y=np.array([{"a": 1}] * 30, dtype=object))
    with pytest.raises(DatasetError, match="not a readable NumPy archive"):
        load_dataset(f"npz:{tmp_path / 'objects.npz'}", (8, 8, 1))  # never unpickled


def make_folder(root, per_class=6, size=12):
    rng = np.random.default_rng(0)
    for name in ("cat", "dog", "fox"):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(
                root / name / f"{i}.png"
            )
    return root


def test_image_folder(tmp_path):
    make_folder(tmp_path / "images")
    data = load_dataset(
        f"folder:{tmp_path / 'images'}", (16, 16, 1), batch_size=4, val_fraction=0.25
    )
    assert data.num_classes == 3
    assert data.sizes() == {"train": 11, "val": 4, "test": 3}
    assert sorted(np.concatenate([y.numpy() for _, y in data.test])) == [0, 1, 2]
    images, labels = next(iter(data.train))
    assert images.shape[1:] == (16, 16, 1) and float(tf.reduce_max(images)) <= 1.0
    assert set(labels.numpy()) <= {0, 1, 2}


def test_tfds_through_mock_data():
    with tfds.testing.mock_data(num_examples=30):
        data = load_dataset("tfds:mnist[train]", (16, 16, 3), batch_size=10)
        own_test = load_dataset("tfds:mnist", (16, 16, 3), batch_size=10)
    # An explicit split is cut three ways; without one, TFDS' own test split is the test split.
    assert data.num_classes == 10 and data.sizes() == {"train": 21, "val": 5, "test": 4}
    assert own_test.sizes() == {"train": 24, "val": 6, "test": 30}
    images, _ = next(iter(data.train))
    assert images.shape == (10, 16, 16, 3) and float(tf.reduce_max(images)) <= 1.0


@pytest.mark.parametrize(
    "spec, message",
    [
        (
            "minst",
            "Unknown data set 'minst'. Valid forms: digits, fashion_mnist, mnist, cifar10, cifar100, "
            "tfds:NAME",
        ),
        ("tfds:no_such_dataset_xyz", "TFDS has no data set named 'no_such_dataset_xyz'"),
        ("folder:/does/not/exist", "does not exist"),
    ],
)
def test_bad_specs(spec, message):
    with pytest.raises(DatasetError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_dataset(spec, (8, 8, 1))


def test_tfds_not_available_offline_names_the_command(tmp_path):
    with pytest.raises(
        DatasetError,
        match=rf"not available offline in {tmp_path}.*`tfds build mnist --data_dir {tmp_path}`",
    ):
        load_dataset("tfds:mnist", (8, 8, 1), data_dir=str(tmp_path))


def test_empty_image_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no class sub-folders"):
        load_dataset(f"folder:{tmp_path / 'empty'}", (8, 8, 1))
    (tmp_path / "empty" / "cat").mkdir()
    with pytest.raises(DatasetError, match=r"has 0 images in its class sub-folders \(cat\)"):
        load_dataset(f"folder:{tmp_path / 'empty'}", (8, 8, 1))


@pytest.mark.parametrize("input_shape", [(8, 8, 2), (8, 8)])
def test_shapes_that_cannot_be_adapted(input_shape):
    with pytest.raises(DatasetError, match="adapted"):
        load_dataset("digits", input_shape)
