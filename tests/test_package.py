"""`import bottleneck_search` has no side effects: no TensorFlow import, no output."""

import ast
import dataclasses
import enum
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow  # over 10 s: CI runs it, the edit loop (make test-fast) does not
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


def _parameters(value) -> list[str]:
    """What a public class or function takes: a dataclass' or named tuple's fields, else its
    (or its constructor's) named parameters."""
    if isinstance(value, type) and dataclasses.is_dataclass(value):
        return [field.name for field in dataclasses.fields(value)]
    if isinstance(value, type) and hasattr(value, "_fields"):
        return list(value._fields)
    if isinstance(value, type) and issubclass(value, enum.Enum):
        return []
    signature = inspect.signature(value.__init__ if isinstance(value, type) else value)
    skipped = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    return [
        p.name for p in signature.parameters.values() if p.name != "self" and p.kind not in skipped
    ]


def test_every_export_is_documented_as_reference():
    """Every public name resolves, and (errors aside, whose docstring is their meaning) has an
    example and an Args or Attributes section that names each of its parameters."""
    import bottleneck_search

    undocumented = {}
    for name in bottleneck_search.__all__:
        value = getattr(bottleneck_search, name)
        assert value.__module__.startswith("bottleneck_search"), name
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, bottleneck_search.BottleneckSearchError) and value.__doc__
            continue
        doc = inspect.getdoc(value) or ""
        problems = [] if "Example" in doc and "```" in doc else ["an example"]
        parameters = _parameters(value)
        if parameters and not re.search(r"^(Args|Attributes):", doc, re.M):
            problems.append("an Args or Attributes section")
        problems += [f"`{p}`" for p in parameters if not re.search(rf"\b{p}\b", doc)]
        if problems:
            undocumented[name] = problems
    assert undocumented == {}


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


STRUCTURE = PACKAGE.parent / "docs" / "structure.md"  # the layer table


def _layer_table() -> list[tuple[str, dict[str, list[str]], list[str]]]:
    """`(layer, {package: its modules}, layers it never imports)` of each row of the layer table in
    docs/structure.md, lowest layer first. A row lists packages with their modules (`flops/`
    (`graph`, ...), `space/backbones/` (`blocks`, ...)) or modules of their own (`errors`, ...,
    under the package `bottleneck_search` itself)."""
    text = STRUCTURE.read_text()
    lines = text[text.index("| layer | modules | owns |") :].splitlines()[2:]
    rows = []
    for line in lines:
        if not line.startswith("|"):
            break
        layer, modules, owns = (cell.strip() for cell in line.strip("|").split("|"))
        packages = {
            "bottleneck_search." + path.strip("/").replace("/", "."): re.findall(r"`(\w+)`", names)
            for path, names in re.findall(r"`([a-z_/]+/)` \(([^)]*)\)", modules)
        }
        if not packages:
            packages = {"bottleneck_search": re.findall(r"`(\w+)`", modules)}
        clause = re.search(r"never imports ((?:`[a-z]+`(?:, | or )?)+)", owns)
        never = re.findall(r"`([a-z]+)`", clause.group(1)) if clause else []
        rows.append((layer, packages, [f"bottleneck_search.{name}" for name in never]))
    return rows


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(f"{prefix}.")


def _rank(name: str, rows) -> int | None:
    """The row of module `name`: the one listing it in its package (or, for a name under a
    listed package, the row of the deepest such package)."""
    best, depth = None, -1
    for index, (_, packages, _) in enumerate(rows):
        for package, modules in packages.items():
            if package == "bottleneck_search":
                hit = any(_within(name, f"{package}.{module}") for module in modules)
            else:
                hit = _within(name, package)
            if hit and package.count(".") > depth:
                best, depth = index, package.count(".")
    return best


def test_every_import_follows_the_documented_layer_table():
    rows = _layer_table()
    assert [layer for layer, _, _ in rows][:3] == ["foundations", "counter", "space"]
    offenders, unlisted = [], []
    for name, path in _modules():
        module = name.removesuffix(".__init__")
        if module == "bottleneck_search":  # the lazy export table names every layer
            continue
        mine = _rank(module, rows)
        if mine is None and name.endswith(".__init__"):  # `search/`, whose rows are its parts'
            below = [i for i, (_, ps, _) in enumerate(rows) if any(_within(p, module) for p in ps)]
            mine = min(below, default=None)
        if mine is None:
            unlisted.append(module)
            continue
        never = rows[mine][2]
        for imported in _imported(ast.parse(path.read_text())):  # function-local ones too
            if not imported.startswith("bottleneck_search."):
                continue
            theirs = _rank(imported, rows)
            if theirs is None:
                continue  # `from bottleneck_search.x import name`: the module `x` is checked
            if theirs > mine or any(_within(imported, p) for p in never):
                offenders.append(
                    f"{module} ({rows[mine][0]}) imports {imported} ({rows[theirs][0]})"
                )
    assert unlisted == [], "modules missing from the layer table (docs/structure.md)"
    assert offenders == []


def test_the_layer_table_lists_every_module_in_its_own_package_and_nothing_else():
    """Each package's row names exactly its modules: a module is found in its own package's
    list, not by its name anywhere in the table (`latency/fit.py` is not the training row's
    `fit`)."""
    listed = {
        f"{package}.{module}"
        for _, packages, _ in _layer_table()
        for package, modules in packages.items()
        for module in modules
    }
    actual = {name for name, _ in _modules() if not name.rsplit(".", 1)[-1].startswith("__")}
    assert sorted(actual - listed) == [], "modules missing from their package's row"
    assert sorted(listed - actual) == [], "rows list modules that do not exist"


def test_no_package_holds_more_than_14_modules():
    counts = {}
    for name, _ in _modules():
        package, module = name.rsplit(".", 1)
        if not module.startswith("__"):
            counts[package] = counts.get(package, 0) + 1
    assert {package: n for package, n in counts.items() if n > 14} == {}


def _module_level_imports(tree: ast.Module, modules) -> set[str]:
    """The package's modules a module imports when it is imported (type-checking blocks
    included): `from package import module` names the module, not its package."""
    names = set()
    for node in tree.body:
        for statement in node.body if isinstance(node, ast.If) else [node]:
            if isinstance(statement, ast.Import):
                names.update(alias.name for alias in statement.names)
            elif isinstance(statement, ast.ImportFrom) and statement.module:
                for alias in statement.names:
                    submodule = f"{statement.module}.{alias.name}"
                    names.add(submodule if submodule in modules else statement.module)
    return names & set(modules)


def test_no_two_modules_import_each_other_even_for_type_checking():
    modules = {name.removesuffix(".__init__"): path for name, path in _modules()}
    graph = {
        name: _module_level_imports(ast.parse(path.read_text()), modules)
        for name, path in modules.items()
    }
    graph = {name: targets - {name} for name, targets in graph.items()}

    def cycle_from(start):
        stack, seen = [(start, [start])], set()
        while stack:
            node, trail = stack.pop()
            for target in graph[node]:
                if target == start:
                    return trail
                if target not in seen and target.startswith("bottleneck_search."):
                    seen.add(target)
                    stack.append((target, [*trail, target]))
        return None

    cycles = [c for name in graph if name != "bottleneck_search" and (c := cycle_from(name))]
    assert cycles == []


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
                and not str(node.args[1].value).startswith("__")  # Python's own, as above
            ):
                private = node.args[1].value
            if private and private not in _PUBLIC_UNDERSCORED:
                offenders.append(f"{name}:{node.lineno}: {private}")
    assert offenders == []
