"""The multi-layer block kinds of a YAML backbone: a basic residual block and GoogLeNet's
Inception module (registered like the one-layer kinds in `blocks`)."""

from __future__ import annotations

import dataclasses

import keras

from bottleneck_search import limits
from bottleneck_search.space.backbones.blocks import (
    Block,
    BlockParams,
    ConvSpec,
    Shape,
    SiteOptions,
    block_kind,
)
from bottleneck_search.space.reduction import BATCH_NORM_MOMENTUM
from bottleneck_search.space.site import ReductionOptions, Site

L = keras.layers


@block_kind("residual")
@dataclasses.dataclass(frozen=True)
class ResidualBlock(Block):
    """A basic residual block: 3x3 conv (stride s) + BN + ReLU, 3x3 conv + BN, shortcut, add, ReLU.

    The shortcut is a 1x1 conv (stride s) + BN when the shape changes. Sites: `<name>_conv1` and
    `<name>_conv2`.
    """

    KEYS = frozenset({"name", "filters", "strides", "widths"})
    spatial = True

    name: str
    filters: int
    strides: int
    options: SiteOptions

    @classmethod
    def parse(cls, p: BlockParams) -> ResidualBlock:
        return cls(
            name=p.name,
            filters=p.positive_int("filters", required=True),
            strides=p.positive_int("strides", default=1, limit=limits.MAX_STRIDES),
            options=p.site_options,
        )

    def _convs(self) -> tuple[ConvSpec, ConvSpec]:
        first = ConvSpec(f"{self.name}_conv1", self.filters, (3, 3), self.strides, batch_norm=True)
        second = ConvSpec(
            f"{self.name}_conv2", self.filters, (3, 3), 1, activation="linear", batch_norm=True
        )
        return first, second

    def trace(self, shape: Shape, sites: list[Site]) -> Shape:
        for conv in self._convs():
            site = conv.site(shape, self.options)
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


@block_kind("inception")
@dataclasses.dataclass(frozen=True)
class InceptionBlock(Block):
    """GoogLeNet's module: 1x1 | [reduce] 3x3 | [reduce] 5x5 | 3x3 max pool + 1x1, concatenated.

    Sites: `<name>_3x3` and `<name>_5x5`; the paper's "#3x3 reduce" and "#5x5 reduce" widths are
    their reference widths.
    """

    KEYS = frozenset(
        {"name", "1x1", "3x3_reduce", "3x3", "5x5_reduce", "5x5", "pool_proj", "widths"}
    )
    spatial = True

    name: str
    b1x1: int
    b3x3: ConvSpec
    b5x5: ConvSpec
    pool_proj: int
    batch_norm: bool
    options: SiteOptions

    @classmethod
    def parse(cls, p: BlockParams) -> InceptionBlock:
        def branch(key_reduce: str, key_conv: str, size: int) -> ConvSpec:
            return ConvSpec(
                name=f"{p.name}_{key_conv}",
                filters=p.positive_int(key_conv, required=True),
                kernel=(size, size),
                activation=p.defaults.activation,
                batch_norm=p.defaults.batch_norm,
                reference=p.positive_int(key_reduce),
            )

        return cls(
            name=p.name,
            b1x1=p.positive_int("1x1", required=True),
            b3x3=branch("3x3_reduce", "3x3", 3),
            b5x5=branch("5x5_reduce", "5x5", 5),
            pool_proj=p.positive_int("pool_proj", required=True),
            batch_norm=p.defaults.batch_norm,
            options=p.site_options,
        )

    def trace(self, shape: Shape, sites: list[Site]) -> Shape:
        for conv in (self.b3x3, self.b5x5):
            site = conv.site(shape, self.options)
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
