"""A user's own `build(hp)` (a function, or a `keras_tuner.HyperModel`) as the source of a search's
models: checked once with its default hyperparameters when the search is made, then built and
counted (`count_flops`, exact) for every trial. The user's compile settings and hyperparameters
are kept as they wrote them."""

from __future__ import annotations

import keras
import keras_tuner as kt

from bottleneck_search.errors import SearchConfigError
from bottleneck_search.search.engine.callbacks import architecture_of_model
from bottleneck_search.space.architecture import Architecture
from bottleneck_search.space.hyperparameters import site_widths


class UserBuild:
    """A user's `build(hp)`, checked with its default hyperparameters.

    Args:
        build: a function `build(hp) -> keras.Model` that compiles its model, or a
            `keras_tuner.HyperModel` (its `fit` is used when it overrides Keras Tuner's).

    Attributes:
        name: the function's or the hypermodel's name.
        default: the `Architecture` (sites and counted costs) of the model built with the
            default hyperparameters: the design the search starts from.
        task_model: that model, compiled by `build` (its loss and metrics make the task).

    Raises:
        SearchConfigError: `build` is not callable, raises with its default hyperparameters,
            returns no `keras.Model`, or returns one it did not compile.
    """

    def __init__(self, build):
        if isinstance(build, kt.HyperModel):
            self.hypermodel, self._build = build, build.build
            self.name = build.name or type(build).__name__
        elif callable(build):
            self.hypermodel, self._build = None, build
            self.name = getattr(build, "__name__", type(build).__name__)
        else:
            raise SearchConfigError(
                "The hypermodel must be a build(hp) function or a keras_tuner.HyperModel. "
                f"Received: {type(build).__name__}."
            )
        hp = kt.HyperParameters()
        try:
            self.task_model = self.build(hp)
        except SearchConfigError:
            raise
        except Exception as error:
            raise SearchConfigError(
                f"{self.name}(hp) raised {type(error).__name__} with its default "
                f"hyperparameters: {error}. Fix it, then start the search again."
            ) from error
        self.default = self.architecture(self.task_model, hp)

    @property
    def fits_itself(self) -> bool:
        """Whether the user's `keras_tuner.HyperModel` overrides `fit` (then it trains)."""
        return self.hypermodel is not None and type(self.hypermodel).fit is not kt.HyperModel.fit

    def build(self, hp: kt.HyperParameters) -> keras.Model:
        """The user's model for `hp`, checked to be a compiled `keras.Model`."""
        model = self._build(hp)
        if not isinstance(model, keras.Model):
            raise SearchConfigError(
                f"{self.name}(hp) must return a keras.Model. Received: {type(model).__name__}."
            )
        if not model.compiled:
            raise SearchConfigError(
                f"{self.name}(hp) returned model '{model.name}' uncompiled. Compile it in "
                "build(hp) with your optimizer, loss and metrics (model.compile(...)): the "
                "search keeps them."
            )
        return model

    def architecture(self, model: keras.Model, hp: kt.HyperParameters) -> Architecture:
        """`model`'s sites (its `bottleneck_conv` decisions in `hp`) and counted costs."""
        return architecture_of_model(model, site_widths(hp))


def check_user_build_options(optimizer, cost: str, max_latency_us) -> None:
    """Refuses the options that need a `SearchSpace` when the models come from a user's build."""
    if optimizer is not None:
        raise SearchConfigError(
            "optimizer= replaces the optimizer of a SearchSpace's models; your build(hp) "
            f"compiles its own, which the search keeps. Received: optimizer={optimizer!r}. "
            "Leave it out (tune the learning rate in build(hp) with hp.Float(...))."
        )
    if max_latency_us is not None or cost != "macs":
        raise SearchConfigError(
            "A latency cost or budget needs a SearchSpace with a latency table; your "
            "build(hp)'s models are costed in MACs (count_flops). Use cost='macs' and max_macs."
        )
