"""Warm-starting reductions from a trained conv: a low-rank factorisation along its input channels.

A 1x1 reduction `A` (C -> k channels) followed by a conv whose kernel is `B` computes, at every
pixel, the conv's taps applied to `A^T x`. Writing the trained conv's kernel as a matrix `W`
(C input channels x every tap and output channel), the pair computes `W_k^T x` with `W_k = A B`,
a rank-k matrix: the choice of `A` and `B` is a rank-k approximation of `W`.

- Data-free (`svd`): the best rank-k approximation of the kernel itself, `A = W V_k`, `B = V_k^T`
  with `V_k` the top-k right singular vectors of `W`. Exact when k = C.
- Data-aware (`output`): the rank-k matrix that best reproduces the conv's per-tap outputs on the
  data, `E ||W^T x - W_k^T x||^2` with `x` the conv's input channel vectors (over a few batches):
  the same construction on `M^(1/2) W`, `M = E[x x^T]` (the input's second moments). On the data it
  is fitted to, its output error is never above the data-free one's.
- Data-aware, input side (`pca`): `A` the top-k principal directions of `x` (uncentred), `B = A^T W`:
  keeps the input's largest components whatever the conv does with them.

In all three, the first `w` channels of the widest factorisation are the factorisation of width `w`
(singular vectors and principal directions come in decreasing order), so a supernet holding the
widest holds every width's warm start. Which one `init="lowrank"` uses was chosen by measurement
(`bench/compress.py`; `DATA_AWARE_METHOD`). Reductions made this way are linear (no bias,
activation or batch norm; `LINEAR_REDUCTION`), like MobileNetV2's linear bottlenecks.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping

import keras
import numpy as np

from bottleneck_search.argument_validation import check_choice
from bottleneck_search.convolution import channel_axis
from bottleneck_search.errors import SearchSpaceError
from bottleneck_search.space.from_model import clone_with_inputs_mapped, layers_by_path
from bottleneck_search.space.site import ReductionOptions

LINEAR_REDUCTION = ReductionOptions(activation="linear", batch_norm=False, use_bias=False)
METHODS = ("svd", "output", "pca")
# The data-aware method `init="lowrank"` uses when it is given data (see the module docstring).
DATA_AWARE_METHOD = "output"
# Batches of the user's data the input statistics are gathered over: 8 x 32 images give every site
# thousands of channel vectors (one per pixel), far more than its channels.
MOMENT_BATCHES = 8


def lowrank_factors(
    kernel: np.ndarray, width: int, moment: np.ndarray | None = None, method: str = "svd"
) -> tuple[np.ndarray, np.ndarray]:
    """The reduction's kernel and the conv's new kernel that approximate `kernel` at `width`.

    Args:
        kernel: the trained conv's kernel, `(*spatial, C, filters)` (Keras' layout).
        width: the reduction's output channels, at most C.
        moment: the second moments `E[x x^T]` (C x C) of the conv's input channels; needed by the
            data-aware methods.
        method: `svd`, `output` or `pca` (see the module docstring).

    Returns:
        `(reduction_kernel, conv_kernel)`, shaped `(1, ..., 1, C, width)` and
        `(*spatial, width, filters)`.

    Example:

    ```python
    kernel = np.random.default_rng(0).normal(size=(3, 3, 16, 8)).astype("float32")
    reduce, conv = lowrank_factors(kernel, 16)   # k = C: exact
    assert np.allclose(np.einsum("ck,hwko->hwco", reduce[0, 0], conv), kernel, atol=1e-5)
    ```
    """
    check_choice("method", method, METHODS, error=SearchSpaceError)
    if method != "svd" and moment is None:
        raise ValueError(f"The {method!r} low-rank method needs the input's second moments.")
    *spatial, channels, filters = kernel.shape
    if not 1 <= width <= channels:
        raise ValueError(f"Width {width} is outside 1..{channels} (the conv's input channels).")
    matrix = np.moveaxis(kernel, -2, 0).reshape(channels, -1).astype("float64")  # C x taps*filters
    if method == "pca":
        reduce = _top_eigenvectors(moment, width)  # C x width
        mixed = reduce.T @ matrix
    else:
        weighted = matrix if method == "svd" else _square_root(moment) @ matrix
        basis = np.linalg.svd(weighted, full_matrices=False)[2][:width].T  # taps*filters x k
        reduce, mixed = matrix @ basis, basis.T
    reduce, mixed = _padded(reduce, mixed, width)
    conv = np.moveaxis(mixed.reshape(width, *spatial, filters), 0, -2)
    return (
        reduce.reshape(*([1] * len(spatial)), channels, width).astype(kernel.dtype),
        conv.astype(kernel.dtype),
    )


def _square_root(moment: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(moment.astype("float64"))
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def _top_eigenvectors(moment: np.ndarray, count: int) -> np.ndarray:
    values, vectors = np.linalg.eigh(moment.astype("float64"))
    return vectors[:, np.argsort(values)[::-1][:count]]


def _padded(reduce: np.ndarray, mixed: np.ndarray, width: int):
    """Zero channels up to `width` when the kernel's rank is lower (fewer taps x filters than C)."""
    missing = width - reduce.shape[1]
    if missing <= 0:
        return reduce, mixed
    return (
        np.pad(reduce, ((0, 0), (0, missing))),
        np.pad(mixed, ((0, missing), (0, 0))),
    )


class _ChannelMoments(keras.layers.Layer):
    """Passes its input through, adding `sum x x^T` over its channel vectors to `total`."""

    def __init__(self, channels: int, data_format: str, **kwargs):
        super().__init__(**kwargs)
        self.channels, self.data_format = channels, data_format
        self.total = self.add_weight(
            shape=(channels, channels), initializer="zeros", trainable=False, name="total"
        )
        self.count = self.add_weight(shape=(), initializer="zeros", trainable=False, name="count")

    def call(self, inputs):
        vectors = (
            inputs if channel_axis(self.data_format) == -1 else keras.ops.moveaxis(inputs, 1, -1)
        )
        vectors = keras.ops.reshape(vectors, (-1, self.channels))
        self.total.assign_add(keras.ops.matmul(keras.ops.transpose(vectors), vectors))
        self.count.assign_add(keras.ops.cast(keras.ops.shape(vectors)[0], "float32"))
        return inputs


def channel_moments(
    model: keras.Model, site_names: Iterable[str], batches: Iterable
) -> dict[str, np.ndarray]:
    """`E[x x^T]` of the input channel vectors of each named conv of `model` over `batches`.

    Args:
        model: the trained model (functional or Sequential, nested models included).
        site_names: names of convs of `model`.
        batches: data batches, `(x, y)` pairs or bare inputs; every batch is used.

    Returns:
        `{name: C x C array}`.
    """
    names = set(site_names)
    probes: dict[str, _ChannelMoments] = {}

    def probe(layer, x):
        if layer.name not in names:
            return x
        channels = x.shape[channel_axis(layer.data_format)]
        probes[layer.name] = _ChannelMoments(
            channels, layer.data_format, name=f"{layer.name}_moments"
        )
        return probes[layer.name](x)

    probed = clone_with_inputs_mapped(model, probe)
    for batch in batches:
        probed(batch[0] if isinstance(batch, tuple | list) else batch, training=False)
    return {name: np.asarray(p.total) / max(float(p.count), 1.0) for name, p in probes.items()}


class LowRankInit:
    """Warm starts for every site of a trained model, for any architecture of its space.

    Args:
        model: the trained model the space was made from.
        moments: `{site: E[x x^T]}` from `channel_moments` for the data-aware method; None for
            data-free SVD.
        method: overrides the method (`svd` without moments, `DATA_AWARE_METHOD` with them).
    """

    def __init__(
        self,
        model: keras.Model,
        moments: Mapping[str, np.ndarray] | None = None,
        method: str | None = None,
    ):
        self.moments = dict(moments or {})
        self.method = method or (DATA_AWARE_METHOD if moments else "svd")
        self._convs = {
            path.rsplit("/", 1)[-1]: layer for path, layer in layers_by_path(model).items()
        }

    def factors(self, site_name: str, width: int) -> tuple[np.ndarray, np.ndarray]:
        """`(reduction_kernel, conv_kernel)` for a reduction of `width` at `site_name`."""
        kernel = keras.ops.convert_to_numpy(self._convs[site_name].kernel)
        return lowrank_factors(kernel, width, self.moments.get(site_name), self.method)

    def apply(self, built: keras.Model, widths: Mapping[str, int | None]) -> None:
        """Sets the reductions of `built` (an architecture of the space) and the convs after them."""
        layers = {path.rsplit("/", 1)[-1]: layer for path, layer in layers_by_path(built).items()}
        for name, width in widths.items():
            if width is None:
                continue
            reduce, conv = self.factors(name, width)
            layers[f"{name}_reduce"].set_weights([reduce])
            original = self._convs[name].get_weights()
            layers[name].set_weights([conv, *original[1:]])


def fitted_warm_start(model: keras.Model, sites, init_data: Iterable | None) -> LowRankInit:
    """The `LowRankInit` of `model`'s `sites`: fitted on the first `MOMENT_BATCHES` batches of
    `init_data` (the data-aware factorisation), or on the kernels alone without data."""
    moments = None
    if init_data is not None and sites:
        batches = itertools.islice(iter(init_data), MOMENT_BATCHES)
        moments = channel_moments(model, [site.name for site in sites], batches)
    return LowRankInit(model, moments)
