"""Finding a search space by what a user types: a shipped backbone's name, a YAML path, or a
`.keras` model. The `space`, `search`, `report` and `export` commands all find spaces here."""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path
from typing import TYPE_CHECKING

from bottleneck_search.errors import SearchSpaceError, UnsafeModelError
from bottleneck_search.space.search_space import SearchSpace

if TYPE_CHECKING:
    import keras

YAML_SUFFIXES = (".yaml", ".yml")
MODEL_SUFFIXES = (".keras", ".h5")
# The working directory's search_spaces/ first (a user's own), then the package's: the files a
# wheel installs, which the repository's search_spaces/ (a link) shows.
_SHIPPED_ROOTS = (
    Path("search_spaces"),
    Path(str(importlib.resources.files("bottleneck_search") / "search_spaces")),
)


def shipped_space_names() -> list[str]:
    """The names of the YAML backbones that `--space NAME` finds, e.g. `googlenet`."""
    names = {path.stem for root in _SHIPPED_ROOTS if root.is_dir() for path in root.glob("*.yaml")}
    return sorted(names)


def find_space_file(spec: str | os.PathLike) -> str:
    """The YAML backbone `spec` names: a path ending in `.yaml`/`.yml` as given, or a shipped
    backbone's name (a bare word such as `googlenet`: `search_spaces/<name>.yaml`).

    Raises:
        SearchSpaceError: `spec` is neither a YAML path nor a shipped name.

    Example:

    ```python
    path = find_space_file("inception_mini")   # .../search_spaces/inception_mini.yaml
    ```
    """
    spec = os.fspath(spec)
    if spec.endswith(YAML_SUFFIXES):
        return spec
    if os.sep not in spec and not Path(spec).suffix:
        for root in _SHIPPED_ROOTS:
            candidate = root / f"{spec}.yaml"
            if candidate.is_file():
                return str(candidate)
    raise SearchSpaceError(
        f"No shipped search space named '{spec}', and '{spec}' is neither a YAML backbone (.yaml) nor "
        f"a Keras model (.keras). Pass a path, or one of: {', '.join(shipped_space_names())}."
    )


def load_space(
    spec: str | os.PathLike, classes: int | None = None, unsafe_load: bool = False
) -> SearchSpace:
    """A `SearchSpace` from a `.keras` model file, a YAML backbone, or a shipped backbone's name.

    Args:
        spec: the model file, the YAML file, or a shipped name (see `find_space_file`).
        classes: overrides a YAML backbone's `classes`.
        unsafe_load: let a model file run the code it holds (trusted files only).

    Example:

    ```python
    space = load_space("search_spaces/googlenet.yaml")
    ```
    """
    spec = os.fspath(spec)
    if spec.endswith(MODEL_SUFFIXES):
        from bottleneck_search.model_io import load_model

        return SearchSpace.from_model(load_model(spec, unsafe_load=unsafe_load))
    return SearchSpace.from_yaml(find_space_file(spec), classes=classes)


def load_search_space(
    space: str, model: str | None, classes: int | None = None, **from_model_options
) -> SearchSpace:
    """The space of a search: its `.keras` `model` (loaded in safe mode) if given, else `space`.

    Searches, and the exports and reports of their runs, never run code stored in a model file:
    there is no `--unsafe-load` for them, because a run directory's `config.json` would otherwise
    decide for whoever exports it later. `from_model_options` go to `SearchSpace.from_model`.
    """
    if model is None:
        return SearchSpace.from_yaml(find_space_file(space), classes=classes)
    return SearchSpace.from_model(load_run_model(model), **from_model_options, model_file=model)


def load_run_model(path: str) -> keras.Model:
    """A model file a run works on, in safe mode, refusing one that holds code (see above).

    Loaded uncompiled: a run compiles what it trains, and the models built from this one (clones)
    would otherwise inherit its optimizer, whose state no checkpoint of theirs holds.
    """
    from bottleneck_search.model_io import load_model

    try:
        return load_model(path, compile=False)
    except UnsafeModelError as error:
        raise UnsafeModelError(
            f"'{path}' contains Python code (e.g. a Lambda layer) that would run on loading; "
            "runs (search, compress, export, report) never run code from a model file. Replace "
            "the Lambda with a registered layer class (keras.saving.register_keras_serializable) "
            "and save the model again."
        ) from error


def space_input_shape(space: SearchSpace) -> tuple[int, ...]:
    """The input shape `(height, width, channels)` a space's models take."""
    shape = space.source.get("input_shape")
    if shape is None:
        raise SearchSpaceError(f"Space '{space.name}' does not record its input shape.")
    return tuple(shape)
