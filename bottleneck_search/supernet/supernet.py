"""`Supernet`: one weight-sharing network holding every architecture of a `SearchSpace`.

Trained once with ordinary `fit`, it scores any architecture in seconds: fix the architecture,
recalibrate the batch-norm statistics on a few training batches, evaluate. See
`supernet.layer.SupernetSite` for how one site holds all its choices.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Iterable, Mapping

import keras

from bottleneck_search.calibration import every_layer, recalibrate_batch_norms
from bottleneck_search.errors import SearchConfigError, SearchSpaceError
from bottleneck_search.space.architecture import Architecture
from bottleneck_search.space.from_model import as_functional, layers_by_path
from bottleneck_search.space.search_space import SearchSpace
from bottleneck_search.supernet.distillation import InPlaceDistillation, PairExamples
from bottleneck_search.supernet.layer import SAMPLED, SupernetSite
from bottleneck_search.training.fit import evaluate_model

# Training batches an architecture's batch-norm statistics are recalibrated on. 8 batches of 32
# give each channel's statistics 256 images x every spatial position (tens of thousands of
# values), ample for stable values, in one forward pass of about 0.2 s on 2 cores
# (inception_mini). Recalibration matters: the supernet's running statistics are a mixture over
# architectures; on digits (inception_mini, 4 supernet epochs) four architectures scored
# 0.66-0.83 without it and 0.90-0.93 with it. Counts other than 0, 2 and 8 were not compared.
CALIBRATION_BATCHES = 8


@dataclasses.dataclass(frozen=True)
class SubnetEvaluation:
    """One architecture scored with the supernet's weights.

    Attributes:
        architecture: the architecture, with its exact costs (`macs` is `space.macs(...)`).
        metrics: what the supernet's compiled `evaluate` returned (`loss`, `accuracy`, ...).
        seconds: wall time of the recalibration and the evaluation.

    Example:

    ```python
    supernet = Supernet(space)
    supernet.model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    result = supernet.evaluate(space.cheapest(), data.val, data.train)   # untrained: near chance
    assert result.architecture == space.cheapest() and 0 <= result.accuracy <= 1
    ```
    """

    architecture: Architecture
    metrics: dict[str, float]
    seconds: float

    @property
    def accuracy(self) -> float:
        """The `accuracy` metric (compile the supernet with `metrics=["accuracy"]`)."""
        return self.metrics["accuracy"]

    def value(self, task) -> float:
        """The value of `task`'s scoring metric (compile the supernet with `task`)."""
        return self.metrics[task.score.removeprefix("val_")]


class Supernet:
    """Every architecture of a space in one Keras model whose sites share their weights.

    Each site becomes a `SupernetSite`: the unreduced conv, the reduction at its widest width and a
    conv for the reduced input, narrower widths being the first channels of the widest. While
    training, each example of a batch takes its own architecture (uniform per site; with the
    sandwich rule a quarter of the examples take the largest architecture and a quarter the
    smallest), so `supernet.model` trains with an ordinary `compile` and `fit`, on any data
    pipeline, with any callbacks. Layers that are not sites keep the weights of `space.build`
    (for `SearchSpace.from_model`: the model's own weights, the sites' unreduced convs included;
    with `init="lowrank"` the reductions and reduced convs start as its warm starts too).
    With `distill=True` each example trains the largest architecture on its label and a sampled
    one on the largest one's prediction (`supernet.distillation`; twice the computation a step).

    Args:
        space: the `SearchSpace`.
        sandwich: give the largest and the smallest architecture a quarter of every batch each
            (per batch: a quarter of the batches each).
        seed: seeds the sampling.
        per_batch: one architecture for a whole batch, the same at every site's choice of mode,
            instead of one per example (see `SupernetSite`).
        distill: in-place distillation (per example only). `model` then wraps `body`, the
            network itself, between the layers that pair examples and add the student's loss.

    Example:

    ```python
    supernet = Supernet(space)
    supernet.model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    supernet.model.fit(data.train, epochs=1)
    supernet = Supernet(space)
    supernet.model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    result = supernet.evaluate(space.cheapest(), data.val, data.train)   # untrained: near chance
    assert result.architecture == space.cheapest() and 0 <= result.accuracy <= 1
    ```
    """

    def __init__(
        self,
        space: SearchSpace,
        sandwich: bool = True,
        seed: int | None = None,
        per_batch: bool = False,
        distill: bool = False,
    ):
        self.check_space(space)
        self.space = space
        largest, smallest = space.most_expensive().widths, space.cheapest().widths
        base = space.build(space.no_bottleneck())
        made: dict[str, tuple[SupernetSite, keras.layers.Layer]] = {}
        mode_seed = seed if seed is not None else random.randrange(2**31)
        sites = {site.name: site for site in space.sites}

        def make_site(layer):
            site = sites.get(layer.name)
            if site is None:
                return layer
            made[site.name] = (
                SupernetSite(
                    layer.get_config(),
                    site.widths,
                    largest=site.choices.index(largest[site.name]),
                    smallest=site.choices.index(smallest[site.name]),
                    activation=space.reduction.activation,
                    batch_norm=space.reduction.batch_norm,
                    use_bias=space.reduction.use_bias,
                    sandwich=sandwich,
                    seed=None if seed is None else seed + len(made),
                    per_batch=per_batch,
                    mode_seed=mode_seed,
                    distill=distill,
                    name=site.name,
                ),
                layer,
            )
            return made[site.name][0]

        self.body = _clone(base, make_site)
        self.model = _distilling(self.body) if distill else self.body
        for name, (site_layer, original) in made.items():
            site_layer.full.set_weights(original.get_weights())
            if space.warm_start is not None:  # every width's warm start is a prefix of the widest
                reduce, conv = space.warm_start.factors(name, site_layer.widths[-1])
                site_layer.reduce.set_weights([reduce])
                site_layer.reduced.set_weights([conv, *original.get_weights()[1:]])
        self.sites = {name: site_layer for name, (site_layer, _) in made.items()}

    # -- the architecture the model computes ----------------------------------------------------
    def set_architecture(
        self, architecture: Architecture | Mapping[str, int | None]
    ) -> Architecture:
        """Makes the model compute `architecture` for every example; returns it validated."""
        architecture = self.space.validate(architecture)
        for site in self.space.sites:
            self.sites[site.name].choice.assign(site.choices.index(architecture.widths[site.name]))
        return architecture

    def sample_architectures(self) -> None:
        """Back to training mode's sampling: each example takes its own architecture."""
        for site_layer in self.sites.values():
            site_layer.choice.assign(SAMPLED)

    # -- one architecture as a network of its own --------------------------------------------
    def subnet(self, architecture: Architecture | Mapping[str, int | None]) -> keras.Model:
        """`space.build(architecture)` carrying the supernet's weights (sliced at the sites).

        The built model computes what the supernet computes with `architecture` set, batch-norm
        statistics included, so it can be fine-tuned, exported or counted like any other.
        """
        architecture = self.space.validate(architecture)
        model = self.space.build(architecture)
        own = layers_by_path(self.body)
        sliced = self._sliced_weights(architecture)
        for path, layer in layers_by_path(model).items():
            name = path.rsplit("/", 1)[-1]
            if name in sliced:
                layer.set_weights(sliced[name])
            elif layer.weights:
                layer.set_weights(own[path].get_weights())
        return model

    def _sliced_weights(self, architecture: Architecture) -> dict[str, list]:
        """Weights of the layers `space.build` makes at the sites, by layer name."""
        weights = {}
        for name, site_layer in self.sites.items():
            width = architecture.widths[name]
            if width is None:
                weights[name] = site_layer.full.get_weights()
                continue
            kernel, *bias = site_layer.reduced.get_weights()
            weights[name] = [kernel[..., :width, :], *bias]
            weights[f"{name}_reduce"] = [w[..., :width] for w in site_layer.reduce.get_weights()]
            if site_layer.reduce_bn is not None:
                weights[f"{name}_reduce_bn"] = [
                    w[:width] for w in site_layer.reduce_bn.get_weights()
                ]
        return weights

    # -- scoring ---------------------------------------------------------------------------
    def recalibrate(self, calibration_data: Iterable, batches: int = CALIBRATION_BATCHES) -> int:
        """Sets every batch-norm layer's moving statistics to those of `batches` training batches
        for the architecture set (see `recalibrate_batch_norms`). Returns the batches used."""
        return recalibrate_batch_norms(self.body, calibration_data, batches, _layers(self.model))

    def evaluate(
        self,
        architecture: Architecture | Mapping[str, int | None],
        validation_data: Iterable,
        calibration_data: Iterable,
        calibration_batches: int = CALIBRATION_BATCHES,
    ) -> SubnetEvaluation:
        """Scores one architecture with the supernet's weights: seconds, not a training.

        Recalibrates the batch-norm statistics for the architecture on `calibration_batches`
        batches of `calibration_data` (training data), runs the compiled `evaluate` on
        `validation_data`, then restores the statistics and per-example sampling, so
        evaluations never affect each other or later training.

        Raises:
            SearchConfigError: the supernet's model is not compiled.
        """
        if not self.model.compiled:
            raise SearchConfigError(
                "Supernet.evaluate() runs the model's compiled metrics; compile supernet.model "
                'first, e.g. supernet.model.compile("adam", "sparse_categorical_crossentropy", '
                'metrics=["accuracy"]).'
            )
        started = time.monotonic()
        architecture = self.set_architecture(architecture)
        norms = self._batch_norms()
        statistics = [(n.moving_mean.numpy(), n.moving_variance.numpy()) for n in norms]
        try:
            self.recalibrate(calibration_data, calibration_batches)
            metrics = evaluate_model(self.model, validation_data)
        finally:
            for norm, (mean, variance) in zip(norms, statistics, strict=True):
                norm.moving_mean.assign(mean)
                norm.moving_variance.assign(variance)
            self.sample_architectures()
        return SubnetEvaluation(
            architecture,
            metrics,
            time.monotonic() - started,
        )

    @staticmethod
    def check_space(space: SearchSpace) -> None:
        """Refuses a space with sites a supernet cannot hold (before any work is done).

        Raises:
            SearchSpaceError: naming the grouped, separable or transposed sites.
        """
        unshared = [
            site.name
            for site in space.sites
            if site.groups != 1 or site.separable or site.transposed
        ]
        if unshared:
            raise SearchSpaceError(
                f"A supernet holds plain convs only: it cannot share the weights of grouped convs "
                f"between widths (a width's channel groups differ from the widest's), nor build "
                f"separable or transposed ones; space '{space.name}' has such sites {unshared}. "
                "Search it trial by trial (no --strategy oneshot), or pass a name_pattern that "
                "leaves them out."
            )

    def _batch_norms(self) -> list[keras.layers.BatchNormalization]:
        return [
            layer
            for layer in _layers(self.model)
            if isinstance(layer, keras.layers.BatchNormalization)
        ]


def _clone(model: keras.Model, make_site) -> keras.Model:
    """Clones `model` (nested models too), replacing each site conv with `make_site(layer)`."""

    def clone_layer(layer):
        if isinstance(layer, keras.Model):
            return _clone(layer, make_site)
        return make_site(layer)

    return keras.models.clone_model(as_functional(model), clone_function=clone_layer)


def _distilling(body: keras.Model) -> keras.Model:
    """`body` between `PairExamples` and `InPlaceDistillation` (see `supernet.distillation`)."""
    if len(body.inputs) != 1 or len(body.outputs) != 1:
        raise SearchConfigError(
            f"In-place distillation needs a model with one input and one output; "
            f"{body.name!r} has {len(body.inputs)} and {len(body.outputs)}. Pass distill=False."
        )
    inputs = keras.Input(shape=body.inputs[0].shape[1:], dtype=body.inputs[0].dtype)
    outputs = InPlaceDistillation(name="distillation")(body(PairExamples(name="pairs")(inputs)))
    return keras.Model(inputs, outputs, name=f"{body.name}_distilling")


def _layers(model) -> list:
    """Every layer of `model`, nested models' and the supernet sites' own batch norms included."""
    found = every_layer(model)
    return found + [
        layer.reduce_bn
        for layer in found
        if isinstance(layer, SupernetSite) and layer.reduce_bn is not None
    ]
