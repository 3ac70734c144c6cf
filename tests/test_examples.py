"""Every ```python example in the package's docstrings and in README.md runs.

Docstring examples run in their module's namespace, with the names below standing for what an
example leaves to its reader; the README's run in one namespace per block with the same names.
An example that raises, or whose `assert` fails, fails here.

| name | what it is |
| --- | --- |
| `tmp` | an empty directory (the working directory is another, holding `search_spaces/`) |
| `run_dir` | a copy of a finished 3-trial run of the tiny space (conftest's `tiny_run`) |
| `tiny_space` | the tiny space's YAML file |
| `space` | `search_spaces/inception_mini.yaml` as a `SearchSpace` |
| `data` | 400 digits at 32x32x3, as `load_dataset` returns them |
| `model_path` | a saved `.keras` model |
| `my_model`, `x`, `hp`, `my_callback` | a small CNN, a Keras tensor, `HyperParameters()`, a `History` callback |
"""

import math
import random
import re
import shutil
import threading

import keras
import keras_tuner
import numpy as np
import pytest
from conftest import ROOT

import bottleneck_search

pytestmark = pytest.mark.slow

FENCE = re.compile(r"```python\n(.*?)```", re.S)


def _docstring_examples():
    for path in sorted((ROOT / "bottleneck_search").rglob("*.py")):
        text = path.read_text()
        for match in FENCE.finditer(text):
            line = text[: match.start()].count("\n") + 2
            module = path.relative_to(ROOT).with_suffix("").as_posix().replace("/", ".")
            yield pytest.param(module, _dedent(match.group(1)), id=f"{module}:{line}")


def _readme_examples():
    """The README's examples and those of every page under `docs/`."""
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = path.read_text()
        name = path.relative_to(ROOT).as_posix()
        for match in FENCE.finditer(text):
            line = text[: match.start()].count("\n") + 2
            yield pytest.param(name, match.group(1), id=f"{name}:{line}")


# `print(...)  # -> expected`: what the example prints there (a line of its output starts with it).
PRINTED = re.compile(r"^\s*print\(.*\)\s*#\s*->\s*(?P<expected>.+?)\s*$")


def _dedent(code: str) -> str:
    lines = code.splitlines()
    indent = min(len(x) - len(x.lstrip()) for x in lines if x.strip())
    return "\n".join(x[indent:] for x in lines)


@pytest.fixture(scope="module")
def inception_mini():
    return bottleneck_search.SearchSpace.from_yaml(ROOT / "search_spaces" / "inception_mini.yaml")


@pytest.fixture(scope="module")
def digits_32():
    from sklearn.datasets import load_digits

    digits = load_digits()
    arrays = (digits.images[:400] / 16.0, digits.target[:400])
    return bottleneck_search.load_dataset(arrays, (32, 32, 3), batch_size=64)


@pytest.fixture
def names(tmp_path, tiny_run, tiny_space_path, inception_mini, digits_32, monkeypatch):
    # Examples name files as a user in a clone of the repository would (search_spaces/..., runs/...).
    (tmp_path / "clone").mkdir()
    (tmp_path / "clone" / "search_spaces").symlink_to(ROOT / "search_spaces")
    (tmp_path / "clone" / "docs").symlink_to(ROOT / "docs")
    monkeypatch.chdir(tmp_path / "clone")
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run, run_dir)
    inputs = keras.Input((16, 16, 3))
    features = keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv1")(inputs)
    features = keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2")(features)
    outputs = keras.layers.Dense(10, activation="softmax")(
        keras.layers.GlobalAveragePooling2D()(features)
    )
    my_model = keras.Model(inputs, outputs, name="my_model")
    model_path = tmp_path / "model.keras"
    my_model.save(model_path)
    (tmp_path / "work").mkdir()
    return {
        "keras": keras,
        "keras_tuner": keras_tuner,
        "math": math,
        "np": np,
        "random": random,
        "threading": threading,
        **{name: getattr(bottleneck_search, name) for name in bottleneck_search.__all__},
        "tmp": str(tmp_path / "work"),
        "run_dir": str(run_dir),
        "tiny_space": tiny_space_path,
        "space": inception_mini,
        "data": digits_32,
        "model_path": str(model_path),
        "my_model": my_model,
        "x": features,
        "hp": keras_tuner.HyperParameters(),
        "my_callback": keras.callbacks.History(),
    }


@pytest.mark.parametrize("module, code", _docstring_examples())
def test_docstring_example_runs(module, code, names):
    import importlib

    namespace = {**vars(importlib.import_module(module)), **names}
    exec(compile(code, module, "exec"), namespace)  # our own docstrings, never user input


@pytest.mark.parametrize("document, code", _readme_examples())
def test_readme_example_runs(document, code, names, capsys):
    """Runs, and prints what its `# -> value` comments say; every `print` of an example says."""
    prints = [line for line in code.splitlines() if line.lstrip().startswith("print(")]
    expected = [m["expected"] for line in prints if (m := PRINTED.match(line))]
    assert len(expected) == len(prints), f"a print in {document} without '# -> what it prints'"
    exec(compile(code, document, "exec"), dict(names))  # our own docs, never user input
    printed = capsys.readouterr().out.splitlines()
    for value in expected:
        assert any(line.startswith(value) for line in printed), (value, printed[-10:])
