"""In-place distillation for a supernet: the largest architecture teaches the others, per example.

While training, `PairExamples` repeats every example of a batch (example `i` lands at positions
`2i` and `2i + 1`), the supernet sites give every even position the largest architecture (the
teacher) and every odd position a sampled one (the student; see `SupernetSite`), and
`InPlaceDistillation` splits the outputs again: it returns the teacher's predictions, which the
compiled loss trains on the labels, and adds the Kullback-Leibler divergence from the teacher's
predictions (held constant) to the student's as a model loss. So each example trains the largest
architecture on its label and one sampled architecture on the largest one's prediction for that
same example (BigNAS, Yu et al. 2020), with ordinary `compile` and `fit`. A step computes twice
as many examples as without distillation. Outside training both layers pass their input through.

The outputs must be class probabilities (a softmax head), as every space of this package has.
"""

from __future__ import annotations

import keras
from keras import ops

# Probabilities are clipped to this before their logarithm.
_EPSILON = 1e-7


@keras.saving.register_keras_serializable(package="bottleneck_search")
class PairExamples(keras.layers.Layer):
    """While training, repeats each example: `[a, b]` becomes `[a, a, b, b]`."""

    def call(self, inputs, training=None):
        if not training:
            return inputs
        return ops.repeat(inputs, 2, axis=0)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="bottleneck_search")
class InPlaceDistillation(keras.layers.Layer):
    """While training, returns the teacher's half of paired outputs and adds the student's loss.

    Args:
        weight: the distillation loss's weight against the compiled loss.
    """

    def __init__(self, weight: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.weight = weight

    def call(self, inputs, training=None):
        if not training:
            return inputs
        teacher, student = inputs[0::2], inputs[1::2]
        teacher = ops.stop_gradient(ops.clip(teacher, _EPSILON, 1.0))
        student = ops.clip(student, _EPSILON, 1.0)
        divergence = ops.sum(teacher * (ops.log(teacher) - ops.log(student)), axis=-1)
        self.add_loss(self.weight * ops.mean(divergence))
        return inputs[0::2]

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "weight": self.weight}
