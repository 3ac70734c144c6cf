"""The `Task` of a search job and the data fed to it: the same for the job, its trainer processes,
its confirmation and its export, and recorded in `config.json` (key `task`)."""

from __future__ import annotations

from bottleneck_search.data import Dataset
from bottleneck_search.errors import SearchConfigError
from bottleneck_search.model_io import compile_config
from bottleneck_search.rundir.config import SearchConfig
from bottleneck_search.space.catalog import load_search_space, space_input_shape
from bottleneck_search.space.search_space import SearchSpace
from bottleneck_search.space.user_build import UserBuild
from bottleneck_search.training.fit import prepared
from bottleneck_search.training.inference import override, task_from_model, with_input_range
from bottleneck_search.training.task import Task


def search_task(config: SearchConfig, space: SearchSpace) -> Task:
    """The task of a search over `space`: a YAML space's softmax head on class indices, or what a
    `--model` was compiled with (else what its output implies); `--loss`, `--metric` and
    `--input-range` override."""
    if space.base_model is not None:
        return task_from_model(
            space.base_model,
            compile_config(config.space.model),
            config.task.loss,
            config.task.metric,
            config.task.input_range,
        )
    task = Task(classes=space.source.get("classes"), source="the YAML space's softmax head")
    if config.task.loss is not None or config.task.metric is not None:
        task = override(task, config.task.loss, config.task.metric)
    return with_input_range(task, config.task.input_range, None)


def user_build_task(config: SearchConfig, build: UserBuild) -> Task:
    """The task of a search of your `build(hp)`: what its default model was compiled with;
    `--metric` chooses the scoring metric among its metrics, `--input-range` overrides.

    Raises:
        SearchConfigError: `--loss`, which would differ from the loss your build compiles.
    """
    if config.task.loss is not None:
        raise SearchConfigError(
            f"{build.name}(hp) compiles its own loss, which every trial trains with; loss= "
            f"(--loss) cannot replace it. Change the loss in build(hp). Received: "
            f"loss={config.task.loss!r}.",
            argument="loss",
        )
    return task_from_model(
        build.task_model, None, None, config.task.metric, config.task.input_range
    )


def user_build_data(config: SearchConfig, build: UserBuild, task: Task, download=None) -> Dataset:
    """The config's data set adapted to your build's input, as `task_data` for a space.

    Raises:
        SearchConfigError: the model's input has free dimensions, or its output cannot be
            trained on the data's labels.
    """
    model = build.task_model
    shape = tuple(model.input_shape[1:]) if not isinstance(model.input_shape, list) else None
    if shape is None or None in shape:
        raise SearchConfigError(
            f"{build.name}(hp) builds a model whose input is {model.input_shape}; a search "
            "feeds it images of one size. Give keras.Input a fixed shape, e.g. "
            "keras.Input((28, 28, 1))."
        )
    data = config.load_data(shape, download, value_range=task.input_range)
    return checked_data(task, build.name, tuple(model.output_shape[1:]), data)


def task_data(config: SearchConfig, space: SearchSpace, task: Task, download=None) -> Dataset:
    """The config's data set adapted to `space`'s input in `task`'s input range, labels in the
    form `task` takes, checked against the space's output (`checked_data`).

    Raises:
        SearchConfigError: the model's output cannot be trained on the data's labels.
    """
    data = config.load_data(space_input_shape(space), download, value_range=task.input_range)
    return checked_data(task, space.name, space.source.get("output_shape"), data)


def checked_data(task: Task, name: str, output_shape, data: Dataset) -> Dataset:
    """`data` with its labels in the form `task` takes, after refusing a model called `name`
    whose output (`output_shape`; None: a YAML space's classifier) cannot be trained on them:
    the CLI's named data sets label whole images with one of `data.num_classes` classes. Targets
    (arrays or `npz:` data whose labels are not class indices) are the user's to match with the
    model and its loss, and pass as they are.

    Raises:
        SearchConfigError: naming the model's output shape and the labels'.
    """
    if data.num_classes is None:
        if output_shape is None:
            raise SearchConfigError(
                f"Space '{name}' is a classifier, but the labels of data set '{data.name}' are "
                "targets, not class indices (one non-negative integer per image)."
            )
        return data
    where = f"Model '{name}' outputs {tuple(output_shape)}" if output_shape else f"Space '{name}'"
    labels = f"one of {data.num_classes} classes per image (data set '{data.name}')"
    if output_shape is not None and len(output_shape) != 1:
        raise SearchConfigError(
            f"{where} per image, but the labels are {labels}: the CLI's data sets are image "
            "classification. Search or compress this model from Python with your own data and "
            "Task (see docs/spaces.md, 'Your own model')."
        )
    if task.classes is None:
        raise SearchConfigError(
            f"{where}, trained with {task.describe()}; the labels are {labels}. Pass a "
            "classification loss (loss=..., --loss; e.g. sparse_categorical_crossentropy), or "
            "use Python with your own data and Task."
        )
    if task.classes != data.num_classes:
        raise SearchConfigError(
            f"{where} for {task.classes} classes, but the labels are {labels}. Use a model "
            "whose output matches the data."
        )
    return prepared(data, task)


def warm_started(config: SearchConfig, space: SearchSpace, data: Dataset, **options) -> SearchSpace:
    """`space` as a `--warm-start` search uses it: its low-rank warm starts fitted on `data`'s
    first training batches (compress' data-aware factorisation, `space.lowrank`), the same in
    every process of the run (the batches are seeded); `space` itself otherwise. `options`
    replace `search_space_options(config)`'s."""
    if not config.space.warm_start:
        return space
    chosen = {**search_space_options(config), **options}
    return load_search_space(None, config.space.model, init_data=data.train, **chosen)


def search_space_options(config: SearchConfig) -> dict:
    """`SearchSpace.from_model` options of a `--model` search (none for a YAML space)."""
    if config.space.model is None:
        return {}
    return {
        "init": "lowrank" if config.space.warm_start else "scratch",
        "include_frozen": config.space.include_frozen,
        "min_kernel_size": config.space.min_kernel_size,
        **({"round_to": config.space.round_to} if config.space.round_to is not None else {}),
        **({"widths": list(config.space.widths)} if config.space.widths is not None else {}),
    }
