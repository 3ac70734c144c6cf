"""A user's own `build(hp)` (a function, or a `keras_tuner.HyperModel`) as the source of a search's
models: checked once with its default hyperparameters when the search is made, then built and
counted (`count_flops`, exact) for every trial. The user's compile settings and hyperparameters
are kept as they wrote them."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

import keras
import keras_tuner as kt

from bottleneck_search.errors import SearchConfigError
from bottleneck_search.flops.graph import count_flops
from bottleneck_search.space.architecture import Architecture
from bottleneck_search.space.hyperparameters import site_widths
from bottleneck_search.space.user_code import UserCode, check_unchanged, import_user_build

# The file an export writes beside a model of your build: what rebuilds it.
HYPERPARAMETERS = "hyperparameters.json"


class UserBuild:
    """A user's `build(hp)`, checked with its default hyperparameters.

    Args:
        build: a function `build(hp) -> keras.Model` that compiles its model, or a
            `keras_tuner.HyperModel` (its `fit` is used when it overrides Keras Tuner's).
        code: where `build` was imported from (`from_reference`), or None for one given in
            Python.

    Attributes:
        name: the function's or the hypermodel's name.
        default: the `Architecture` (sites and counted costs) of the model built with the
            default hyperparameters: the design the search starts from.
        default_values: those default hyperparameters' values.
        task_model: that model, compiled by `build` (its loss and metrics make the task).
        code: as given.

    Raises:
        SearchConfigError: `build` is not callable, raises with its default hyperparameters,
            returns no `keras.Model`, or returns one it did not compile.
    """

    def __init__(self, build, code: UserCode | None = None):
        self.code = code
        self._costs: dict[str, Architecture] = {}  # architecture_from_values' counts
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
        self.default_values = dict(hp.values)

    @classmethod
    def from_reference(cls, reference: str) -> UserBuild:
        """The build `FILE.py:FUNCTION` or `package.module:FUNCTION` names (`import_user_build`)."""
        return cls(*import_user_build(reference))

    @classmethod
    def recorded(cls, code: dict, where: str) -> UserBuild:
        """The build a run or an export recorded (`UserCode.to_config()`), imported again from
        the file it recorded, after checking that file is unchanged (`where` names the record).

        Raises:
            SearchConfigError: the file changed since (both hashes named).
        """
        check_unchanged(code["path"], code["sha256"], where)
        place, _, function = code["reference"].rpartition(":")
        reference = f"{code['path']}:{function}" if place.endswith(".py") else code["reference"]
        return cls.from_reference(reference)

    @property
    def reference(self) -> Architecture:
        """The design the search starts from (`default`): a penalty's target by default."""
        return self.default

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

    def build_with(self, values: dict) -> tuple[keras.Model, kt.HyperParameters]:
        """The model `build` makes for recorded hyperparameter `values` (a trial's
        `hyperparameters`), and the hyperparameters it was built with."""
        hp = kt.HyperParameters()
        hp.values = dict(values)
        return self.build(hp), hp

    def build_model(self, values: dict) -> keras.Model:
        """The compiled model `build` makes for recorded hyperparameter `values`."""
        return self.build_with(values)[0]

    def architecture_from_values(self, values: dict) -> Architecture:
        """The sites and counted costs of the model built for `values` (the model is dropped)."""
        key = json.dumps(values, sort_keys=True)
        if key not in self._costs:
            model, hp = self.build_with(values)
            self._costs[key] = self.architecture(model, hp)
        return self._costs[key]


def user_build_record(build: UserBuild, values: dict) -> dict:
    """What an export's `hyperparameters.json` holds: your build's file (reference, path,
    sha256) and the values one model was built with (`build_from_hyperparameters` reads it)."""
    return {"hypermodel": build.code.to_config(), "values": values}


def build_from_hyperparameters(path: str | os.PathLike) -> keras.Model:
    """The model an exported `hyperparameters.json` describes, built again by the function it
    names (imported from the file it recorded; refused when that file changed since).

    The model is built and compiled as your build makes it, with fresh weights: the exported
    `model.keras` beside the JSON holds the trained ones.

    Args:
        path: an export folder's `hyperparameters.json`.

    Raises:
        SearchConfigError: the file is unreadable or not such a record, or your build's file
            changed since (both hashes named).

    Example:

    ```python
    # What `export` writes beside a trial's model.keras, here by hand:
    build = UserBuild.from_reference("docs/examples/own_build.py:build_model")
    values = {"filters": 16, "mid1/reduce": True, "mid1/width": 4, "mid2/reduce": False}
    with open(f"{tmp}/hyperparameters.json", "w") as handle:
        json.dump(user_build_record(build, values), handle)
    model = build_from_hyperparameters(f"{tmp}/hyperparameters.json")
    assert count_flops(model).macs == build.architecture_from_values(values).macs
    ```
    """
    try:
        with open(path, encoding="utf-8") as handle:
            record = json.load(handle)
        code, values = record["hypermodel"], dict(record["values"])
        missing = [key for key in ("reference", "path", "sha256") if key not in code]
        if missing:
            raise KeyError(", ".join(missing))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise SearchConfigError(
            f"'{path}' is not an exported hyperparameters.json ({type(error).__name__}: "
            f"{error}); export the run again (bottleneck-search export RUN)."
        ) from error
    return UserBuild.recorded(code, f"the one '{path}' recorded").build_model(values)


def architecture_of_model(
    model: keras.Model, widths: dict | None = None, input_shape: Sequence[int] | None = None
) -> Architecture:
    """`model`'s costs (`count_flops`, exact, at batch 1, at `input_shape` when given) as an
    `Architecture` of the site decisions `widths` (none by default)."""
    report = count_flops(model, input_shape=input_shape)
    return Architecture.from_widths(
        widths or {}, macs=report.macs, flops=report.flops, params=report.params
    )


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
