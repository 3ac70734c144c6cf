"""Blocks of a YAML backbone. Each block knows its output shape and sites without Keras
(`trace`) and builds its layers on a Keras tensor (`build`)."""

from __future__ import annotations

import dataclasses
import math

import keras

from bottleneck_search.space.reduction import BATCH_NORM_MOMENTUM, apply_reduction
from bottleneck_search.space.site import ReductionOptions, Site, resolve_widths

L = keras.layers
Shape = tuple[int, ...]  # (height, width, channels), channels last


def conv_output_size(size: int, kernel: int, stride: int, padding: str) -> int:
    if padding == "same":
        return math.ceil(size / stride)
    return (size - kernel) // stride + 1


@dataclasses.dataclass(frozen=True)
class SiteOptions:
    """Per-block search settings: offered widths (specs) and rounding."""

    widths: tuple | None
    round_to: int


@dataclasses.dataclass(frozen=True)
class ConvSpec:
    """One conv layer (optionally batch norm), possibly a site."""

    name: str
    filters: int
    kernel: tuple[int, int]
    strides: int = 1
    padding: str = "same"
    activation: str = "relu"
    batch_norm: bool = False
    searchable: bool = True
    reference: int | None = None

    def output(self, shape: Shape) -> Shape:
        h, w, _ = shape
        return (
            conv_output_size(h, self.kernel[0], self.strides, self.padding),
            conv_output_size(w, self.kernel[1], self.strides, self.padding),
            self.filters,
        )

    def site(self, shape: Shape, options: SiteOptions, where: str) -> Site | None:
        if not self.searchable or max(self.kernel) < 3:
            return None
        widths = resolve_widths(options.widths, shape[2], options.round_to, where)
        if self.reference is not None:
            widths = tuple(sorted({*widths, self.reference}))
        if not widths:
            return None
        return Site(
            name=self.name,
            kernel_size=self.kernel,
            in_channels=shape[2],
            out_channels=self.filters,
            input_size=shape[:2],
            output_size=self.output(shape)[:2],
            widths=widths,
            reference=self.reference,
        )

    def build(self, x, widths: dict, reduction: ReductionOptions):
        width = widths.get(self.name)
        if width is not None:
            x = apply_reduction(x, self.name, width, reduction)
        common = dict(strides=self.strides, padding=self.padding, name=self.name)
        if not self.batch_norm:
            return L.Conv2D(self.filters, self.kernel, activation=self.activation, **common)(x)
        x = L.Conv2D(self.filters, self.kernel, use_bias=False, **common)(x)
        x = L.BatchNormalization(momentum=BATCH_NORM_MOMENTUM, name=f"{self.name}_bn")(x)
        return L.Activation(self.activation, name=f"{self.name}_act")(x)


@dataclasses.dataclass(frozen=True)
class ConvBlock:
    conv: ConvSpec
    options: SiteOptions
    where: str

    @property
    def name(self) -> str:
        return self.conv.name

    def trace(self, shape: Shape, sites: list[Site]) -> Shape:
        site = self.conv.site(shape, self.options, self.where)
        if site is not None:
            sites.append(site)
        return self.conv.output(shape)

    def build(self, x, widths: dict, reduction: ReductionOptions):
        return self.conv.build(x, widths, reduction)


@dataclasses.dataclass(frozen=True)
class PoolBlock:
    name: str
    kind: str  # "max" or "avg"
    size: int
    strides: int
    padding: str

    def trace(self, shape: Shape, sites: list[Site]) -> Shape:
        h, w, c = shape
        return (
            conv_output_size(h, self.size, self.strides, self.padding),
            conv_output_size(w, self.size, self.strides, self.padding),
            c,
        )

    def build(self, x, widths: dict, reduction: ReductionOptions):
        pool = L.MaxPooling2D if self.kind == "max" else L.AveragePooling2D
        return pool(self.size, strides=self.strides, padding=self.padding, name=self.name)(x)


@dataclasses.dataclass(frozen=True)
class GlobalPoolBlock:
    name: str
    kind: str

    def trace(self, shape: Shape, sites: list[Site]) -> Shape:
        return (shape[-1],)

    def build(self, x, widths: dict, reduction: ReductionOptions):
        pool = L.GlobalMaxPooling2D if self.kind == "max" else L.GlobalAveragePooling2D
        return pool(name=self.name)(x)


@dataclasses.dataclass(frozen=True)
class FlattenBlock:
    name: str

    def trace(self, shape: Shape, sites: list[Site]) -> Shape:
        return (math.prod(shape),)

    def build(self, x, widths: dict, reduction: ReductionOptions):
        return L.Flatten(name=self.name)(x)


@dataclasses.dataclass(frozen=True)
class DropoutBlock:
    name: str
    rate: float

    def trace(self, shape: Shape, sites: list[Site]) -> Shape:
        return shape

    def build(self, x, widths: dict, reduction: ReductionOptions):
        return L.Dropout(self.rate, name=self.name)(x)


@dataclasses.dataclass(frozen=True)
class DenseBlock:
    name: str
    units: int
    activation: str

    def trace(self, shape: Shape, sites: list[Site]) -> Shape:
        return (*shape[:-1], self.units)

    def build(self, x, widths: dict, reduction: ReductionOptions):
        return L.Dense(self.units, activation=self.activation, name=self.name)(x)


@dataclasses.dataclass(frozen=True)
class ResidualBlock:
    """A basic residual block: 3x3 conv (stride s) + BN + ReLU, 3x3 conv + BN, shortcut, add, ReLU.

    The shortcut is a 1x1 conv (stride s) + BN when the shape changes. Sites: `<name>_conv1` and
    `<name>_conv2`.
    """

    name: str
    filters: int
    strides: int
    options: SiteOptions
    where: str

    def _convs(self) -> tuple[ConvSpec, ConvSpec]:
        first = ConvSpec(f"{self.name}_conv1", self.filters, (3, 3), self.strides, batch_norm=True)
        second = ConvSpec(
            f"{self.name}_conv2", self.filters, (3, 3), 1, activation="linear", batch_norm=True
        )
        return first, second

    def trace(self, shape: Shape, sites: list[Site]) -> Shape:
        for conv in self._convs():
            site = conv.site(shape, self.options, self.where)
            if site is not None:
                sites.append(site)
            shape = conv.output(shape)
        return shape

    def build(self, x, widths: dict, reduction: ReductionOptions):
        first, second = self._convs()
        y = second.build(first.build(x, widths, reduction), widths, reduction)
        shortcut = x
        if self.strides != 1 or x.shape[-1] != self.filters:
            shortcut = L.Conv2D(
                self.filters, 1, strides=self.strides, use_bias=False, name=f"{self.name}_shortcut"
            )(x)
            shortcut = L.BatchNormalization(
                momentum=BATCH_NORM_MOMENTUM, name=f"{self.name}_shortcut_bn"
            )(shortcut)
        y = L.Add(name=f"{self.name}_add")([y, shortcut])
        return L.Activation("relu", name=f"{self.name}_out")(y)


@dataclasses.dataclass(frozen=True)
class InceptionBlock:
    """GoogLeNet's module: 1x1 | [reduce] 3x3 | [reduce] 5x5 | 3x3 max pool + 1x1, concatenated.

    Sites: `<name>_3x3` and `<name>_5x5`; the paper's "#3x3 reduce" and "#5x5 reduce" widths are
    their reference widths.
    """

    name: str
    b1x1: int
    b3x3: ConvSpec
    b5x5: ConvSpec
    pool_proj: int
    batch_norm: bool
    options: SiteOptions
    where: str

    def trace(self, shape: Shape, sites: list[Site]) -> Shape:
        for conv in (self.b3x3, self.b5x5):
            site = conv.site(shape, self.options, self.where)
            if site is not None:
                sites.append(site)
        return (*shape[:2], self.b1x1 + self.b3x3.filters + self.b5x5.filters + self.pool_proj)

    def build(self, x, widths: dict, reduction: ReductionOptions):
        one = ConvSpec(
            f"{self.name}_1x1", self.b1x1, (1, 1), batch_norm=self.batch_norm, searchable=False
        )
        proj = ConvSpec(
            f"{self.name}_pool_proj",
            self.pool_proj,
            (1, 1),
            batch_norm=self.batch_norm,
            searchable=False,
        )
        pooled = L.MaxPooling2D(3, strides=1, padding="same", name=f"{self.name}_pool")(x)
        branches = [
            one.build(x, widths, reduction),
            self.b3x3.build(x, widths, reduction),
            self.b5x5.build(x, widths, reduction),
            proj.build(pooled, widths, reduction),
        ]
        return L.Concatenate(name=f"{self.name}_concat")(branches)
