"""`Backbone`: a network described by a YAML spec, as a list of blocks plus a classifier head."""

from __future__ import annotations

import dataclasses

import keras

from bottleneck_search.space.site import ReductionOptions, Site


@dataclasses.dataclass(frozen=True)
class Backbone:
    """A parsed YAML backbone.

    Attributes:
        name: the spec's name; the built model's name.
        input_shape: `(height, width, channels)`.
        classes: units of the softmax classifier appended after the last block.
        blocks: the blocks in order (see `bottleneck_search.space.backbones.blocks`).
        reduction: how inserted reductions are made.
        source: the file it came from.
        sha256: hash of the file's content.
    """

    name: str
    input_shape: tuple[int, int, int]
    classes: int
    blocks: tuple
    reduction: ReductionOptions
    source: str = ""
    sha256: str = ""

    def sites(self) -> tuple[Site, ...]:
        """The sites, found by shape arithmetic alone (no Keras model is built)."""
        sites: list[Site] = []
        shape = self.input_shape
        for block in self.blocks:
            shape = block.trace(shape, sites)
        return tuple(sites)

    def build(self, widths: dict[str, int | None]) -> keras.Model:
        """Builds the network with a reduction of `widths[site]` channels before each site."""
        inputs = keras.Input(self.input_shape, name="image")
        x = inputs
        for block in self.blocks:
            x = block.build(x, widths, self.reduction)
        outputs = keras.layers.Dense(self.classes, activation="softmax", name="predictions")(x)
        return keras.Model(inputs, outputs, name=self.name)
