"""`SupernetSite`: one site of a weight-sharing supernet, every choice of the site in one layer.

A site's choices are "no reduction" and a 1x1 reduction to one of its widths. The layer holds:

- `full`: the site's conv for the unreduced input (the original conv);
- `reduce` (+ `reduce_bn`, activation): the reduction at the site's widest width;
- `reduced`: the site's conv for the reduced input, with as many input channels as the widest width.

A width `w` uses the first `w` channels of the reduction: the channels beyond it are multiplied by
zero before `reduced`, which is the same as slicing the reduction's filters and `reduced`'s kernel
to their first `w` channels (`Supernet.subnet` does that slicing). The mask comes after the
reduction's batch norm and activation, so a channel's value (and its batch statistics) never
depends on the width chosen.

Choices are per example: each example of a batch takes its own architecture. With the sandwich
rule, examples at positions 0, 4, 8, ... of a batch take the space's largest architecture and
those at 1, 5, 9, ... its smallest (every site agrees, since all sites read the same positions);
the rest take a uniform choice per site. So every training step trains the largest, the smallest
and many random architectures at once, with ordinary `fit` and any data pipeline. Computing both
the unreduced and the reduced conv for every example is what makes this possible; a step costs
about as much as the largest architecture plus the widest reduction.

With in-place distillation (`supernet.distillation`) every example comes twice, at positions `2i`
and `2i + 1`: even positions take the largest architecture (the teacher); the odd ones follow the
rule above by their example's number `i` (with the sandwich rule `i` = 1, 5, 9, ... the smallest,
the rest uniform; the largest is not drawn twice).

A fixed choice (`choice` >= 0: 0 for no reduction, `i` for the `i`-th width) overrides sampling
for every example; `Supernet.set_architecture` sets it.
"""

from __future__ import annotations

import keras
from keras import ops

from bottleneck_search.convolution import CONV_BY_RANK, channel_axis
from bottleneck_search.space.reduction import BATCH_NORM_MOMENTUM

SAMPLED = -1  # the value of `choice` that samples a choice per example


@keras.saving.register_keras_serializable(package="bottleneck_search")
class SupernetSite(keras.layers.Layer):
    """Every choice of one site: no reduction, or a reduction to one of `widths` channels.

    Args:
        conv_config: the site conv's `get_config()`.
        widths: the widths offered, ascending.
        largest, smallest: the choice indices of the site in the space's largest and smallest
            architecture (0: no reduction, `i`: the `i`-th width).
        activation, batch_norm, use_bias: the reduction's `ReductionOptions`.
        sandwich: give the largest and the smallest architecture a quarter of every batch each
            (per example), or a quarter of the batches each (per batch).
        seed: seeds this site's sampling.
        per_batch: one architecture for a whole batch instead of one per example.
        mode_seed: per batch: seeds the draw that decides largest, smallest or random; it must
            be the same at every site, so that all sites agree on it.
        distill: examples come in pairs, teacher then student (per example only).
    """

    def __init__(
        self,
        conv_config: dict,
        widths,
        largest: int,
        smallest: int,
        activation: str = "relu",
        batch_norm: bool = False,
        use_bias: bool = True,
        sandwich: bool = True,
        seed: int | None = None,
        per_batch: bool = False,
        mode_seed: int = 0,
        distill: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.conv_config = dict(conv_config)
        self.widths = tuple(int(w) for w in widths)
        self.largest, self.smallest = int(largest), int(smallest)
        self.activation, self.batch_norm, self.use_bias = activation, batch_norm, use_bias
        self.sandwich = sandwich
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.per_batch, self.mode_seed = per_batch, mode_seed
        if distill and per_batch:
            raise ValueError(
                "In-place distillation pairs each example with its teacher inside a batch, so it "
                "needs one architecture per example: pass per_batch=False."
            )
        self.distill = distill
        # Every site's generator starts at the same seed and draws once per call, so all sites
        # draw the same value at every step.
        self.mode_generator = keras.random.SeedGenerator(mode_seed)
        self.data_format = conv_config.get("data_format") or "channels_last"
        self._channel_axis = channel_axis(self.data_format)

    def build(self, input_shape):
        rank = len(input_shape) - 2
        conv = CONV_BY_RANK[rank]
        widest = self.widths[-1]
        self.full = conv.from_config({**self.conv_config, "name": "full"})
        self.full.build(input_shape)
        reduced_shape = list(input_shape)
        reduced_shape[self._channel_axis] = widest
        self.reduce = conv(
            widest,
            1,
            activation=None if self.batch_norm else self.activation,
            use_bias=self.use_bias,
            data_format=self.data_format,
            name="reduce",
        )
        self.reduce.build(input_shape)
        self.reduce_bn = None
        if self.batch_norm:
            self.reduce_bn = keras.layers.BatchNormalization(
                axis=self._channel_axis, momentum=BATCH_NORM_MOMENTUM, name="reduce_bn"
            )
            self.reduce_bn.build(tuple(reduced_shape))
        self.reduced = conv.from_config({**self.conv_config, "name": "reduced"})
        self.reduced.build(tuple(reduced_shape))
        self.choice = self.add_weight(
            shape=(),
            dtype="int32",
            initializer=keras.initializers.Constant(SAMPLED),
            trainable=False,
            name="choice",
        )

    def call(self, inputs, training=None):
        choices = self._choices(ops.shape(inputs)[0])
        full = self.full(inputs)
        reduced = self.reduce(inputs)
        if self.reduce_bn is not None:
            reduced = self.reduce_bn(reduced, training=training)
            reduced = keras.activations.get(self.activation)(reduced)
        widths = ops.take(ops.convert_to_tensor((0, *self.widths), dtype="int32"), choices)
        channels = ops.arange(self.widths[-1], dtype="int32")
        mask = ops.cast(channels[None, :] < widths[:, None], reduced.dtype)
        reduced = self.reduced(reduced * self._per_example(mask))
        use_reduction = self._per_example(ops.cast(choices > 0, "float32")[:, None])
        return ops.where(use_reduction > 0, reduced, full)

    def _choices(self, batch):
        """The choice index of every example of a batch of `batch` examples."""
        choices = len(self.widths) + 1
        if self.per_batch:
            mode = keras.random.uniform((), seed=self.mode_generator)
            sampled = keras.random.randint((), 0, choices, dtype="int32", seed=self.seed_generator)
            if self.sandwich:
                sampled = ops.where(mode < 0.25, self.largest, sampled)
                sampled = ops.where((mode >= 0.25) & (mode < 0.5), self.smallest, sampled)
            sampled = ops.broadcast_to(sampled, (batch,))
        else:
            sampled = keras.random.randint(
                (batch,), 0, choices, dtype="int32", seed=self.seed_generator
            )
            position = ops.arange(batch, dtype="int32")
            if self.distill:
                teacher, position = position % 2 == 0, position // 2
            if self.sandwich:
                if not self.distill:
                    sampled = ops.where(position % 4 == 0, self.largest, sampled)
                sampled = ops.where(position % 4 == 1, self.smallest, sampled)
            if self.distill:
                sampled = ops.where(teacher, self.largest, sampled)
        fixed = ops.convert_to_tensor(self.choice)
        return ops.where(fixed >= 0, fixed, sampled)

    def _per_example(self, values):
        """`(batch, channels or 1)` values shaped to broadcast against a batched feature map."""
        spatial = len(self.full.kernel_size)
        if self._channel_axis == -1:
            return ops.reshape(values, (-1, *([1] * spatial), values.shape[-1]))
        return ops.reshape(values, (-1, values.shape[-1], *([1] * spatial)))

    def compute_output_shape(self, input_shape):
        return self.full.compute_output_shape(input_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "conv_config": self.conv_config,
            "widths": list(self.widths),
            "largest": self.largest,
            "smallest": self.smallest,
            "activation": self.activation,
            "batch_norm": self.batch_norm,
            "use_bias": self.use_bias,
            "sandwich": self.sandwich,
            "seed": self.seed,
            "per_batch": self.per_batch,
            "mode_seed": self.mode_seed,
            "distill": self.distill,
        }
