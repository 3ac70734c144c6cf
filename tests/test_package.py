"""`import bottleneck_search` has no side effects: no TensorFlow import, no output."""

import ast
import re
import subprocess
import sys
from pathlib import Path


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


STRUCTURE = PACKAGE.parent / "docs" / "structure.md"  # the layer table


def _layer_table() -> list[tuple[str, list[str], list[str]]]:
    """`(layer, module prefixes, layers it never imports)` of each row of the layer table in
    docs/structure.md, lowest layer first."""
    text = STRUCTURE.read_text()
    lines = text[text.index("| layer | modules | owns |") :].splitlines()[2:]
    rows = []
    for line in lines:
        if not line.startswith("|"):
            break
        layer, modules, owns = (cell.strip() for cell in line.strip("|").split("|"))
        names = re.findall(r"`([a-z_/]+)`", modules)
        if names[0].endswith("/"):  # a package: `flops/` (`graph`, ...)
            prefixes = [f"bottleneck_search.{names[0].rstrip('/')}"]
        else:  # modules of their own: `errors`, `limits`, ...
            prefixes = [f"bottleneck_search.{name}" for name in names]
        clause = re.search(r"never imports ((?:`[a-z]+`(?:, | or )?)+)", owns)
        never = re.findall(r"`([a-z]+)`", clause.group(1)) if clause else []
        rows.append((layer, prefixes, [f"bottleneck_search.{name}" for name in never]))
    return rows


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(f"{prefix}.")


def test_every_import_follows_the_documented_layer_table():
    rows = _layer_table()
    assert [layer for layer, _, _ in rows][:3] == ["foundations", "counter", "space"]

    def rank(name: str) -> int | None:
        return next(
            (i for i, (_, ps, _) in enumerate(rows) if any(_within(name, p) for p in ps)), None
        )

    offenders, unlisted = [], []
    for name, path in _modules():
        module = name.removesuffix(".__init__")
        if module == "bottleneck_search":  # the lazy export table names every layer
            continue
        mine = rank(module)
        if mine is None:
            unlisted.append(module)
            continue
        never = rows[mine][2]
        for imported in _imported(ast.parse(path.read_text())):  # function-local ones too
            if not imported.startswith("bottleneck_search."):
                continue
            theirs = rank(imported)
            if theirs is None:
                continue  # `from bottleneck_search.x import name`: the module `x` is checked
            if theirs > mine or any(_within(imported, p) for p in never):
                offenders.append(
                    f"{module} ({rows[mine][0]}) imports {imported} ({rows[theirs][0]})"
                )
    assert unlisted == [], "modules missing from the layer table (docs/structure.md)"
    assert offenders == []


def test_the_layer_table_names_every_module_of_each_package():
    text = STRUCTURE.read_text()
    table = text[text.index("| layer | modules | owns |") :]
    table = table[: table.index("\n\n")]
    for name, _ in _modules():
        parts = name.split(".")
        if len(parts) >= 3 and not parts[-1].startswith("__"):
            assert f"`{parts[-1]}`" in table, (
                f"{name} is not in the layer table (docs/structure.md)"
            )


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
            ):
                private = node.args[1].value
            if private and private not in _PUBLIC_UNDERSCORED:
                offenders.append(f"{name}:{node.lineno}: {private}")
    assert offenders == []
