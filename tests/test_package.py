"""`import bottleneck_search` has no side effects: no TensorFlow import, no output."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest


def test_import_is_silent_and_lazy():
    code = (
        "import sys, bottleneck_search; "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules; "
        "assert callable(bottleneck_search.count_flops); "
        "assert 'tensorflow' in sys.modules"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""


def test_public_names_resolve():
    import bottleneck_search

    for name in bottleneck_search.__all__:
        assert getattr(bottleneck_search, name) is not None


PACKAGE = Path(__file__).resolve().parent.parent / "bottleneck_search"
# Public API with a leading underscore: namedtuples' (so as not to clash with field names), and
# `os._exit` (documented: leave the process at once, for a child process).
_PUBLIC_UNDERSCORED = {"_asdict", "_replace", "_fields", "_make", "_exit"}


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path.relative_to(PACKAGE.parent).with_suffix("").as_posix().replace("/", "."), path


def _imported(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize(
    "layer, forbidden",
    [
        ("search", "results"),
        ("results", "search"),
        # The supernet is a model over a space: it knows nothing of searches, runs or results.
        ("supernet", "search"),
        ("supernet", "rundir"),
        ("supernet", "results"),
        # Compressing writes a run directory that results read; it needs no search machinery.
        ("results", "compress"),
        ("compress", "search"),
    ],
)
def test_data_flows_one_way_between_search_and_results(layer, forbidden):
    offenders = [
        name
        for name, path in _modules()
        if name.startswith(f"bottleneck_search.{layer}.")
        and any(
            imported.startswith(f"bottleneck_search.{forbidden}")
            for imported in _imported(ast.parse(path.read_text()))
        )
    ]
    assert offenders == []


def test_the_run_directory_layer_imports_neither_search_nor_results():
    for name, path in _modules():
        if name.startswith("bottleneck_search.rundir."):
            imported = _imported(ast.parse(path.read_text()))
            assert not [
                i
                for i in imported
                if i.startswith(("bottleneck_search.search", "bottleneck_search.results"))
            ], name


def test_no_module_is_over_400_lines():
    long = {name: n for name, path in _modules() if (n := len(path.read_text().splitlines())) > 400}
    assert long == {}


def test_private_attributes_of_other_libraries_are_touched_only_in_compat():
    offenders = []
    for name, path in _modules():
        if name == "bottleneck_search.compat":
            continue
        text = path.read_text()
        for marker in ("keras.src", "keras_tuner.src", "tensorflow.python"):
            if marker in text:
                offenders.append(f"{name}: {marker}")
        for node in ast.walk(ast.parse(text)):
            private = None
            if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
                owner = node.value.id if isinstance(node.value, ast.Name) else None
                if owner not in ("self", "cls") and not node.attr.startswith("__"):
                    private = node.attr
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("getattr", "hasattr", "setattr")
                and len(node.args) > 1
                and isinstance(node.args[1], ast.Constant)
                and str(node.args[1].value).startswith("_")
            ):
                private = node.args[1].value
            if private and private not in _PUBLIC_UNDERSCORED:
                offenders.append(f"{name}:{node.lineno}: {private}")
    assert offenders == []
