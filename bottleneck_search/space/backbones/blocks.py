"""The block kinds of a YAML backbone, one registered class each: the one-layer kinds here, the
multi-layer ones (`residual`, `inception`) in `composite_blocks`.

A block kind declares the keys it takes (`KEYS`), reads them from its YAML mapping (`parse`),
knows its output shape and sites without Keras (`trace`), and builds its layers on a Keras tensor
(`build`). Adding a kind is one class with `@block_kind("name")`, as adding a layer to the FLOP
counter is one function with `@register_counter`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any, ClassVar, Protocol

import keras

from bottleneck_search import limits
from bottleneck_search.space.reduction import BATCH_NORM_MOMENTUM, apply_reduction
from bottleneck_search.space.site import ReductionOptions, Site, resolve_widths

L = keras.layers
Shape = tuple[int, ...]  # (height, width, channels), channels last

BLOCK_KINDS: dict[str, type] = {}


class BlockParams(Protocol):
    """What a block kind's `parse` reads its YAML mapping through (`space.backbones.yaml_spec` makes
    one per block): typed readers that report an error at the block's file and line.

    Attributes:
        name: the block's name (given, or `<kind><index>`).
        site_options: the widths and rounding its sites offer.
        defaults: the file's defaults (`activation`, `batch_norm`).
    """

    name: str
    site_options: SiteOptions

    @property
    def defaults(self) -> Any: ...

    def get(self, key: str, check, expected: str, default=None, required: bool = False): ...

    def positive_int(
        self, key: str, default=None, required: bool = False, limit=limits.MAX_CHANNELS
    ): ...

    def boolean(self, key: str, default: bool) -> bool: ...

    def choice(self, key: str, options: tuple, default): ...

    def activation(self, default: str) -> str: ...


def block_kind(kind: str) -> Callable[[type], type]:
    """Registers a block class under its YAML name (`- conv: {...}` is kind `conv`)."""

    def register(cls: type) -> type:
        cls.KIND = kind
        BLOCK_KINDS[kind] = cls
        return cls

    return register


def conv_output_size(size: int, kernel: int, stride: int, padding: str) -> int:
    if padding == "same":
        return math.ceil(size / stride)
    return (size - kernel) // stride + 1


@dataclasses.dataclass(frozen=True)
class SiteOptions:
    """Per-block search settings: offered widths (specs), rounding, and where the block is
    written (for error messages)."""

    widths: tuple | None
    round_to: int
    where: str = ""


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

    def site(self, shape: Shape, options: SiteOptions) -> Site | None:
        if not self.searchable or max(self.kernel) < 3:
            return None
        widths = resolve_widths(options.widths, shape[2], options.round_to, options.where)
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


class Block:
    """What every block kind provides. `spatial` blocks need a feature map, not a vector."""

    KIND: ClassVar[str]
    KEYS: ClassVar[frozenset[str]]
    spatial: ClassVar[bool] = False
    name: str

    @classmethod
    def parse(cls, p: BlockParams) -> Block:
        raise NotImplementedError

    def trace(self, shape: Shape, sites: list[Site]) -> Shape:
        raise NotImplementedError

    def build(self, x, widths: dict, reduction: ReductionOptions):
        raise NotImplementedError


@block_kind("conv")
@dataclasses.dataclass(frozen=True)
class ConvBlock(Block):
    KEYS = frozenset(
        {
            "name",
            "filters",
            "kernel",
            "strides",
            "padding",
            "activation",
            "batch_norm",
            "searchable",
            "widths",
            "reference",
        }
    )
    spatial = True

    conv: ConvSpec
    options: SiteOptions

    @classmethod
    def parse(cls, p: BlockParams) -> ConvBlock:
        kernel = p.get(
            "kernel",
            _is_kernel,
            f"an odd or even size from 1 to {limits.MAX_KERNEL}, or [height, width]",
            required=True,
        )
        conv = ConvSpec(
            name=p.name,
            filters=p.positive_int("filters", required=True),
            kernel=(kernel, kernel) if _is_int(kernel) else tuple(kernel),
            strides=p.positive_int("strides", default=1, limit=limits.MAX_STRIDES),
            padding=p.choice("padding", ("same", "valid"), "same"),
            activation=p.activation(p.defaults.activation),
            batch_norm=p.boolean("batch_norm", p.defaults.batch_norm),
            searchable=p.boolean("searchable", True),
            reference=p.positive_int("reference"),
        )
        return cls(conv=conv, options=p.site_options)

    @property
    def name(self) -> str:
        return self.conv.name

    def trace(self, shape: Shape, sites: list[Site]) -> Shape:
        site = self.conv.site(shape, self.options)
        if site is not None:
            sites.append(site)
        return self.conv.output(shape)

    def build(self, x, widths: dict, reduction: ReductionOptions):
        return self.conv.build(x, widths, reduction)


@block_kind("pool")
@dataclasses.dataclass(frozen=True)
class PoolBlock(Block):
    KEYS = frozenset({"name", "type", "size", "strides", "padding"})
    spatial = True

    name: str
    kind: str  # "max" or "avg"
    size: int
    strides: int
    padding: str

    @classmethod
    def parse(cls, p: BlockParams) -> PoolBlock:
        size = p.positive_int("size", default=2, limit=limits.MAX_POOL)
        return cls(
            name=p.name,
            kind=p.choice("type", ("max", "avg"), "max"),
            size=size,
            strides=p.positive_int("strides", default=size, limit=limits.MAX_POOL),
            padding=p.choice("padding", ("same", "valid"), "valid"),
        )

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


@block_kind("global_pool")
@dataclasses.dataclass(frozen=True)
class GlobalPoolBlock(Block):
    KEYS = frozenset({"name", "type"})

    name: str
    kind: str

    @classmethod
    def parse(cls, p: BlockParams) -> GlobalPoolBlock:
        return cls(name=p.name, kind=p.choice("type", ("avg", "max"), "avg"))

    def trace(self, shape: Shape, sites: list[Site]) -> Shape:
        return (shape[-1],)

    def build(self, x, widths: dict, reduction: ReductionOptions):
        pool = L.GlobalMaxPooling2D if self.kind == "max" else L.GlobalAveragePooling2D
        return pool(name=self.name)(x)


@block_kind("flatten")
@dataclasses.dataclass(frozen=True)
class FlattenBlock(Block):
    KEYS = frozenset({"name"})

    name: str

    @classmethod
    def parse(cls, p: BlockParams) -> FlattenBlock:
        return cls(name=p.name)

    def trace(self, shape: Shape, sites: list[Site]) -> Shape:
        return (math.prod(shape),)

    def build(self, x, widths: dict, reduction: ReductionOptions):
        return L.Flatten(name=self.name)(x)


@block_kind("dropout")
@dataclasses.dataclass(frozen=True)
class DropoutBlock(Block):
    KEYS = frozenset({"name", "rate"})

    name: str
    rate: float

    @classmethod
    def parse(cls, p: BlockParams) -> DropoutBlock:
        rate = p.get(
            "rate", lambda v: _is_number(v) and 0 <= v < 1, "a number in [0, 1)", required=True
        )
        return cls(name=p.name, rate=float(rate))

    def trace(self, shape: Shape, sites: list[Site]) -> Shape:
        return shape

    def build(self, x, widths: dict, reduction: ReductionOptions):
        return L.Dropout(self.rate, name=self.name)(x)


@block_kind("dense")
@dataclasses.dataclass(frozen=True)
class DenseBlock(Block):
    KEYS = frozenset({"name", "units", "activation"})

    name: str
    units: int
    activation: str

    @classmethod
    def parse(cls, p: BlockParams) -> DenseBlock:
        return cls(
            name=p.name,
            units=p.positive_int("units", required=True),
            activation=p.activation(p.defaults.activation),
        )

    def trace(self, shape: Shape, sites: list[Site]) -> Shape:
        return (*shape[:-1], self.units)

    def build(self, x, widths: dict, reduction: ReductionOptions):
        return L.Dense(self.units, activation=self.activation, name=self.name)(x)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_kernel(value) -> bool:
    if _is_int(value):
        return 1 <= value <= limits.MAX_KERNEL
    return (
        isinstance(value, list)
        and len(value) == 2
        and all(_is_int(v) and 1 <= v <= limits.MAX_KERNEL for v in value)
    )
