"""Loading Keras models from files and from `keras.applications`, with errors a user can act on."""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import json
import os
import zipfile
from collections.abc import Sequence

import keras

from bottleneck_search.errors import ModelLoadError, UnsafeModelError


def load_model(
    path: str | os.PathLike, unsafe_load: bool = False, compile: bool = True
) -> keras.Model:
    """Loads a `.keras` (or legacy `.h5`) model, with `safe_mode=True` unless told otherwise.

    Args:
        path: the model file.
        unsafe_load: load with `safe_mode=False`, which runs code stored in the file (Python
            lambdas). Only for files you trust.
        compile: restore the model's optimizer, loss and metrics too (Keras' `compile`).

    Returns:
        The loaded `keras.Model`.

    Raises:
        ModelLoadError: the file is missing or is not a Keras model.
        UnsafeModelError: the file holds code that would run on loading and `unsafe_load` is off.

    Example:

    ```python
    model = load_model(model_path)   # e.g. runs/demo/export/trial_3/model.keras
    print(count_flops(model).table())
    ```
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ModelLoadError(f"Model file '{path}' does not exist. Check the path.")
    if os.path.isdir(path):
        raise ModelLoadError(
            f"'{path}' is a directory; expected a .keras file. (TF SavedModel folders cannot be "
            "loaded as Keras models in Keras 3.)"
        )
    if not path.endswith((".keras", ".h5", ".hdf5")):
        raise ModelLoadError(
            f"'{path}' is not a Keras model file: expected a .keras file (or a legacy .h5)."
        )
    if path.endswith(".keras") and not zipfile.is_zipfile(path):
        raise ModelLoadError(
            f"'{path}' is not a Keras model file (a .keras file is a zip archive)."
        )
    try:
        model = keras.saving.load_model(path, compile=compile, safe_mode=not unsafe_load)
    except ValueError as error:
        message = str(error)
        if "safe_mode" in message:
            raise UnsafeModelError(
                f"'{path}' contains Python code (e.g. a Lambda layer) that would run on loading, "
                "which can execute arbitrary code, so it was refused. If you trust the file, "
                "pass --unsafe-load (Python: unsafe_load=True)."
            ) from error
        raise ModelLoadError(
            f"'{path}' could not be loaded as a Keras model: {message.splitlines()[0]}"
        ) from error
    except (TypeError, KeyError, zipfile.BadZipFile, OSError) as error:
        raise ModelLoadError(
            f"'{path}' could not be loaded as a Keras model ({type(error).__name__}: {error}). "
            "If it uses custom layers, load it in Python with custom_objects."
        ) from error
    if not isinstance(model, keras.Model):
        raise ModelLoadError(f"'{path}' holds a {type(model).__name__}, not a keras.Model.")
    return model


def compile_config(path: str | os.PathLike | None) -> dict | None:
    """The loss, metrics and optimizer a compiled `.keras` file was saved with (its
    `compile_config`, read as JSON: nothing is deserialised or run), or None.

    Example:

    ```python
    config = compile_config(model_path)   # None: the file was saved uncompiled
    ```
    """
    if path is None or not os.fspath(path).endswith(".keras") or not zipfile.is_zipfile(path):
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            saved = json.loads(archive.read("config.json"))
    except (KeyError, json.JSONDecodeError, zipfile.BadZipFile) as error:
        raise ModelLoadError(f"'{path}' has no readable config.json ({error}).") from error
    found = saved.get("compile_config") if isinstance(saved, dict) else None
    return found if isinstance(found, dict) and found.get("loss") is not None else None


def model_record(path: str | os.PathLike, model: keras.Model) -> dict:
    """What a run records of the model file it works on: its name, where it was, its sha256 (a
    changed file is told apart) and its layer count (nested models' layers included)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)

    def count(m):
        return sum(count(layer) if isinstance(layer, keras.Model) else 1 for layer in m.layers)

    return {
        "file": os.path.basename(os.fspath(path)),
        "path": os.path.abspath(path),
        "sha256": digest.hexdigest(),
        "name": model.name,
        "layers": count(model),
    }


def application_names() -> list[str]:
    """Names of the model constructors in `keras.applications`, e.g. `ResNet50`."""
    return sorted(
        name
        for name, value in vars(keras.applications).items()
        if inspect.isfunction(value) and name[0].isupper()
    )


def build_application(name: str, input_shape: Sequence[int] | None = None) -> keras.Model:
    """Builds a `keras.applications` model with `weights=None`, so nothing is downloaded.

    Args:
        name: the constructor's name, e.g. `"MobileNetV2"`.
        input_shape: `(height, width, channels)`; the application's default when None.

    Returns:
        The untrained model.

    Raises:
        ModelLoadError: unknown name or an input shape the application rejects.

    Example:

    ```python
    model = build_application("MobileNetV2", (96, 96, 3))
    ```
    """
    names = application_names()
    if name not in names:
        close = [n for n in names if n.lower().startswith(name.lower()[:4])] or names[:8]
        raise ModelLoadError(
            f"Unknown keras.applications model '{name}'. Did you mean one of: {', '.join(close)}? "
            f"({len(names)} are available; names are case-sensitive.)"
        )
    kwargs = {"weights": None}
    if input_shape is not None:
        kwargs["input_shape"] = tuple(input_shape)
    try:
        return getattr(keras.applications, name)(**kwargs)
    except ValueError as error:
        raise ModelLoadError(
            f"keras.applications.{name} rejected input_shape={input_shape}: {str(error).splitlines()[0]}"
        ) from error


def onnx_unavailable(purpose: str = "export --format onnx") -> str | None:
    """Why this process cannot convert a model to ONNX and run it, or None when it can.

    Args:
        purpose: what needs ONNX, as the message names it (`export --format onnx`,
            `latency --runtime onnxruntime`).
    """
    if keras.backend.backend() != "tensorflow":
        return (
            f"{purpose} runs on the tensorflow backend (Keras converts through tf2onnx there); "
            f"this process uses {keras.backend.backend()}. model.keras is the same on every "
            "backend: run it under KERAS_BACKEND=tensorflow (the CLI's --backend tensorflow)."
        )
    missing = [name for name in ("onnxruntime", "tf2onnx", "onnx") if not _installed(name)]
    if missing:
        return (
            f"{purpose} needs {' and '.join(missing)}, not installed here. Install the extra: "
            "pip install 'bottleneck-search[onnx]'."
        )
    return None


def _installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None
