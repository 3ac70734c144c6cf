"""Readers for the files the classic image data sets ship as, checked and never trusted.

- IDX (MNIST, Fashion-MNIST): a big-endian header (two zero bytes, a type code, the number of
  dimensions, each dimension as a 4-byte integer) and the raw values; usually gzipped.
- `mnist.npz` (the Keras cache): a NumPy archive, read with `allow_pickle=False`.
- `npz:` data sets (`write_npz`, also how a run keeps data it was given in memory): arrays `x`
  and `y`, or `y_0`, `y_1`, ... for several outputs' targets; optionally `x_test` and its
  `y_test` (or `y_test_0`, ...). Read with `allow_pickle=False`.
- CIFAR "binary version": records of label byte(s) and 3,072 pixel bytes (channels first).
- CIFAR "python version" (the Keras cache): Python pickles. They are read by an unpickler that
  can build nothing but NumPy arrays, lists, dicts, numbers and strings, and the result must be
  `uint8` images of the expected shape and integer labels; anything else is refused.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
from collections.abc import Sequence

import numpy as np

from bottleneck_search.errors import DatasetError

_IDX_UBYTE = 0x08
CIFAR_PIXELS = 3 * 32 * 32


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """The array in an IDX file (`.gz` or not) of unsigned bytes, as `uint8`.

    Raises:
        DatasetError: not an IDX file of unsigned bytes, or shorter than its header says.
    """
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DatasetError(
            f"'{path}' is not an IDX file (its first bytes are {raw[:4].hex() or 'missing'}; IDX "
            "starts with 00 00, a type byte and the number of dimensions)."
        )
    if raw[2] != _IDX_UBYTE:
        raise DatasetError(
            f"'{path}' holds IDX type 0x{raw[2]:02x}; only unsigned bytes (0x08) are read."
        )
    rank = raw[3]
    header = 4 + 4 * rank
    if len(raw) < header:
        raise DatasetError(f"'{path}' is truncated: its header is cut short.")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(rank))
    expected = int(np.prod(shape, dtype=np.int64))
    if len(raw) - header != expected:
        raise DatasetError(
            f"'{path}' is truncated or padded: its header announces shape {shape} "
            f"({expected:,} bytes) but it holds {len(raw) - header:,}."
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def read_npz_split(path: str | os.PathLike) -> tuple[np.ndarray, ...]:
    """`(x_train, y_train, x_test, y_test)` from a Keras `mnist.npz`, with no pickled objects."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            return tuple(archive[key] for key in ("x_train", "y_train", "x_test", "y_test"))
    except (OSError, ValueError, KeyError) as error:
        raise DatasetError(
            f"'{path}' is not a usable mnist.npz (x_train, y_train, x_test, y_test): {error}"
        ) from error


def write_npz(handle, x: np.ndarray, y, test=None) -> None:
    """Writes `x`, `y` (an array, or a tuple of several outputs' arrays) and an optional
    `(x_test, y_test)` to an open binary file as an `npz:` data set (see `read_npz`)."""
    arrays = {"x": x, **_label_arrays("y", y)}
    if test is not None:
        arrays.update({"x_test": test[0], **_label_arrays("y_test", test[1])})
    np.savez(handle, **arrays)


def _label_arrays(key: str, labels) -> dict[str, np.ndarray]:
    if isinstance(labels, tuple):
        return {f"{key}_{index}": part for index, part in enumerate(labels)}
    return {key: labels}


def read_npz(path: str | os.PathLike):
    """`(x, y, test)` of an `npz:` data set: `y` an array or a tuple of several outputs' arrays,
    `test` `(x_test, y_test)` or None.

    Raises:
        DatasetError: not a NumPy archive, a pickled object inside, or `x` / `y` missing.
    """
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError) as error:
        raise DatasetError(f"'{path}' is not a readable NumPy archive (.npz): {error}") from error

    def labels(key: str):
        if key in arrays:
            return arrays[key]
        parts = [arrays[f"{key}_{i}"] for i in range(len(arrays)) if f"{key}_{i}" in arrays]
        return tuple(parts) if parts else None

    x, y = arrays.get("x"), labels("y")
    if x is None or y is None:
        raise DatasetError(
            f"'{path}' holds {sorted(arrays) or 'no arrays'}; an npz data set needs 'x' (images) "
            "and 'y' (labels; or 'y_0', 'y_1', ... for several outputs)."
        )
    test = (arrays["x_test"], labels("y_test")) if "x_test" in arrays else None
    if test is not None and test[1] is None:
        raise DatasetError(f"'{path}' has 'x_test' but no 'y_test' labels for it.")
    return x, y, test


def read_cifar_binary(path: str | os.PathLike, label_bytes: int) -> tuple[np.ndarray, np.ndarray]:
    """Images `(n, 32, 32, 3)` and labels from a CIFAR binary batch; the last label byte is used
    (CIFAR-100 records carry the coarse label, then the fine one)."""
    raw = _read_bytes(path)
    record = label_bytes + CIFAR_PIXELS
    if not raw or len(raw) % record:
        raise DatasetError(
            f"'{path}' is not a CIFAR binary batch: {len(raw):,} bytes is not a whole number of "
            f"{record:,}-byte records."
        )
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(-1, record)
    return _channels_last(rows[:, label_bytes:], path), rows[:, label_bytes - 1].astype(np.int64)


def read_cifar_python(
    path: str | os.PathLike, label_key: str, num_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Images `(n, 32, 32, 3)` and labels from a CIFAR "python version" batch, read safely."""
    try:
        batch = _ArraysOnlyUnpickler(io.BytesIO(_read_bytes(path)), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as error:
        raise DatasetError(f"'{path}' is not a CIFAR python batch: {error}") from error
    if not isinstance(batch, dict):
        raise DatasetError(f"'{path}' is not a CIFAR python batch (not a dictionary).")
    data, labels = batch.get(b"data"), batch.get(label_key.encode())
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        raise DatasetError(f"'{path}': b'data' is not a 2-D uint8 array.")
    if data.shape[1] != CIFAR_PIXELS:
        raise DatasetError(f"'{path}': images have {data.shape[1]} values, not {CIFAR_PIXELS}.")
    labels = np.asarray(labels if isinstance(labels, list | np.ndarray) else [])
    if labels.shape != (len(data),) or not np.issubdtype(labels.dtype, np.integer):
        raise DatasetError(f"'{path}': {label_key!r} is not one integer label per image.")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise DatasetError(f"'{path}': labels outside 0..{num_classes - 1}.")
    return _channels_last(data, path), labels.astype(np.int64)


def check_pair(images: np.ndarray, labels: np.ndarray, where: Sequence[str]) -> None:
    """Refuses images and labels that do not belong together."""
    if len(images) != len(labels) or not len(images):
        raise DatasetError(
            f"{' and '.join(map(str, where))}: {len(images):,} images but {len(labels):,} labels."
        )


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Builds NumPy arrays and plain containers; any other class in the file is refused."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _channels_last(rows: np.ndarray, path) -> np.ndarray:
    if rows.shape[1] != CIFAR_PIXELS:
        raise DatasetError(f"'{path}': images have {rows.shape[1]} values, not {CIFAR_PIXELS}.")
    return rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


def _read_bytes(path) -> bytes:
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
        return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except OSError as error:
        raise DatasetError(f"'{path}' cannot be read ({error.strerror or error}).") from error
    except (EOFError, gzip.BadGzipFile) as error:
        raise DatasetError(f"'{path}' is a damaged gzip file ({error}).") from error
