"""A user's `build(hp)` named by reference, `FILE.py:FUNCTION` or `package.module:FUNCTION`, as
`search --hypermodel` takes it: imported and run as the user's own code (a file's folder goes
first on `sys.path`, as `python FILE.py` would put it), with the sha256 of the file that
defines it. A run records both; resuming it, confirming, exporting, and each trainer or worker
refuse a file that changed since (`check_unchanged`)."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.util
import os
import sys
from typing import Any

import keras_tuner as kt

from bottleneck_search.errors import SearchConfigError

ARGUMENT = "hypermodel"


@dataclasses.dataclass(frozen=True)
class UserCode:
    """Where a user's `build(hp)` comes from.

    Attributes:
        reference: as given: `FILE.py:FUNCTION` or `package.module:FUNCTION`.
        path: the absolute path of the file that defines it.
        sha256: the hash of that file's content when it was imported.
    """

    reference: str
    path: str
    sha256: str

    def to_config(self) -> dict[str, str]:
        return dataclasses.asdict(self)


def import_user_build(reference: str) -> tuple[Any, UserCode]:
    """The `build(hp)` function (or `keras_tuner.HyperModel`) `reference` names, imported.

    A `keras_tuner.HyperModel` subclass is made with no arguments.

    Raises:
        SearchConfigError: `reference` is malformed, its file or module cannot be found or
            raises on import, or it has no such name, or the name is not callable.

    Example:

    ```python
    build, code = import_user_build("docs/examples/own_build.py:build_model")
    print(code.path, code.sha256[:12])
    ```
    """
    received = f"Received: hypermodel={reference!r} (--hypermodel)."
    place, separator, name = str(reference).rpartition(":")
    if not separator or not place or not name.isidentifier():
        raise SearchConfigError(
            "The hypermodel is named as FILE.py:FUNCTION or package.module:FUNCTION, e.g. "
            f"models.py:build_model. {received}",
            argument=ARGUMENT,
        )
    module = (
        _import_file(place, received) if place.endswith(".py") else _import_module(place, received)
    )
    if not hasattr(module, name):
        defined = sorted(
            key
            for key, value in vars(module).items()
            if callable(value)
            and not key.startswith("_")
            and getattr(value, "__module__", None) == module.__name__
        )
        raise SearchConfigError(
            f"{place} has no {name}; its functions and classes are: {', '.join(defined) or 'none'}. "
            f"{received}",
            argument=ARGUMENT,
        )
    build = getattr(module, name)
    if isinstance(build, type) and issubclass(build, kt.HyperModel):
        build = build()
    if not callable(build) and not isinstance(build, kt.HyperModel):
        raise SearchConfigError(
            f"{place}'s {name} is not a function (it is of type {type(build).__name__}); the "
            f"hypermodel must be a build(hp) function or a keras_tuner.HyperModel. {received}",
            argument=ARGUMENT,
        )
    path = os.path.abspath(module.__file__)
    return build, UserCode(str(reference), path, file_sha256(path))


def check_unchanged(path: str, recorded_sha256: str, where: str) -> None:
    """Refuses to go on with a user's build whose file at `path` no longer has the hash the
    run recorded (`UserCode.sha256`); `where` says whose record it is.

    Raises:
        SearchConfigError: naming the file and both hashes.
    """
    now = file_sha256(path) if os.path.isfile(path) else "missing"
    if now != recorded_sha256:
        raise SearchConfigError(
            f"The hypermodel's file {path} differs from {where} (sha256 "
            f"{recorded_sha256[:16]} there, {now[:16]} here); every trial of a run is built by "
            "one version of it. Restore that version, or start a new run.",
            argument=ARGUMENT,
        )


def defining_file(reference: str) -> str:
    """The absolute path of the file `reference` names, found without running it (a module's
    parent packages are imported, as Python finds any module)."""
    place = str(reference).rpartition(":")[0]
    if place.endswith(".py"):
        return os.path.abspath(place)
    spec = importlib.util.find_spec(place)
    return os.path.abspath(spec.origin) if spec is not None and spec.origin else place


def file_sha256(path: str) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def _import_file(place: str, received: str):
    path = os.path.abspath(place)
    if not os.path.isfile(path):
        raise SearchConfigError(
            f"No file {place} (from {os.getcwd()}). {received}", argument=ARGUMENT
        )
    folder = os.path.dirname(path)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    module_name = f"bottleneck_search_user_{hashlib.sha256(path.encode()).hexdigest()[:12]}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[module_name]
        raise SearchConfigError(
            f"Importing {place} raised {type(error).__name__}: {error}. {received}",
            argument=ARGUMENT,
        ) from error
    return module


def _import_module(place: str, received: str):
    try:
        return importlib.import_module(place)
    except ModuleNotFoundError as error:
        if error.name is not None and place.startswith(error.name):
            raise SearchConfigError(
                f"No module {place} on the Python path (sys.path); give FILE.py:FUNCTION for a "
                f"file, or install the package. {received}",
                argument=ARGUMENT,
            ) from error
        raise SearchConfigError(
            f"Importing {place} raised ModuleNotFoundError: {error}. {received}",
            argument=ARGUMENT,
        ) from error
    except Exception as error:
        raise SearchConfigError(
            f"Importing {place} raised {type(error).__name__}: {error}. {received}",
            argument=ARGUMENT,
        ) from error
