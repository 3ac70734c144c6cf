"""Latency tables kept between runs: one file per space, runtime, batch size, threads and machine.

The cache folder is `$BOTTLENECK_SEARCH_CACHE/latency` (default `~/.cache/bottleneck-search/
latency`). A table's key hashes what its figures depend on: the space's network and sites, the
batch size, runtime and threads, the Keras backend, the device (CPU model and core count, or
GPU), the versions of Keras and of the library that runs the model, and the table's own format
version. A table measured on another machine, before an upgrade, or fitted by an older model,
has another key and is never used here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
from collections.abc import Callable
from pathlib import Path

from bottleneck_search.errors import LatencyError
from bottleneck_search.latency.measure import DEFAULT_REPEATS, device_name
from bottleneck_search.latency.table import VERSION as TABLE_VERSION
from bottleneck_search.latency.table import LatencyTable, build_latency_table
from bottleneck_search.latency.validation import validate_table
from bottleneck_search.rundir.files import write_atomically

CACHE_VARIABLE = "BOTTLENECK_SEARCH_CACHE"
# A search's copy of the table it used, in its run directory (read back on resume, by its
# trainer processes and by its report).
RUN_TABLE = "latency_table.json"
DEFAULT_VALIDATION = 10


def cache_dir() -> Path:
    """The folder latency tables are kept in."""
    root = os.environ.get(CACHE_VARIABLE) or os.path.join(
        os.path.expanduser("~"), ".cache", "bottleneck-search"
    )
    return Path(root) / "latency"


def table_key(space, batch_size: int, runtime: str, threads: int | None) -> str:
    """The hex digest naming `space`'s table for these settings on this machine."""
    import keras

    identity = {
        "network": network_digest(space),
        "sites": [[site.name, list(site.widths)] for site in space.sites],
        "reduction": dataclasses.asdict(space.reduction),
        "batch_size": batch_size,
        "runtime": runtime,
        "threads": threads,
        "backend": keras.backend.backend(),
        "device": device_name(runtime),
        "machine": platform.machine(),
        "versions": runtime_versions(runtime),
        "table_version": TABLE_VERSION,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def network_digest(space) -> str:
    """A digest of the network a space reduces: its YAML file's, or its model's architecture
    (`get_config()`: the layers, without compile settings or weights)."""
    if space.source.get("kind") == "yaml":
        return f"{space.source['sha256']}/{space.source.get('classes')}"
    if space.base_model is None:
        return space.name
    config = json.dumps(space.base_model.get_config(), sort_keys=True, default=str)
    return hashlib.sha256(config.encode()).hexdigest()


def runtime_versions(runtime: str) -> dict[str, str]:
    """Keras' version and that of the library that runs the model."""
    import importlib.metadata

    import keras

    versions = {"keras": keras.__version__}
    names = {"tensorflow": "tensorflow", "jax": "jaxlib", "torch": "torch"}
    packages = [names.get(keras.backend.backend(), keras.backend.backend())]
    if runtime == "onnxruntime":
        packages.append("onnxruntime")
    for package in packages:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "unknown"
    return versions


def table_path(space, batch_size: int, runtime: str, threads: int | None) -> Path:
    key = table_key(space, batch_size, runtime, threads)
    return cache_dir() / f"{space.name}-b{batch_size}-{runtime}-{key[:16]}.json"


def cached_table(
    space,
    batch_size: int = 1,
    runtime: str = "keras",
    threads: int | None = None,
    repeats: int = DEFAULT_REPEATS,
    validation: int = DEFAULT_VALIDATION,
    build: bool = True,
    on_progress: Callable[[str], None] | None = None,
) -> LatencyTable | None:
    """`space`'s table for these settings on this machine: the cached one, else (with `build`)
    one measured now, validated on `validation` architectures and cached.

    Args:
        space: the space (its name and sites key the cache, with the settings and the machine).
        batch_size, runtime, threads, repeats: as for `build_latency_table`.
        validation: unseen architectures a new table is validated on (0: none).
        build: measure a table when none is cached; False only reads the cache.
        on_progress: called with a line per step of a build.

    Returns:
        The table, or None when none is cached and `build` is False.

    Example:

    ```python
    table = cached_table(space, repeats=3, validation=2)   # measured once, then read from the cache
    ```
    """
    path = table_path(space, batch_size, runtime, threads)
    if path.is_file():
        try:
            return read_table(path)
        except LatencyError as error:
            if on_progress is not None:
                on_progress(f"latency table {path} unreadable ({error}); measuring it again")
    if not build:
        return None
    if on_progress is not None:
        on_progress(
            f"latency table: measuring {space.name} at batch {batch_size} ({runtime}), "
            f"{sum(len(s.widths) for s in space.sites)} entries; kept in {path}"
        )
    table = build_latency_table(
        space, batch_size, runtime, threads, repeats, on_progress=on_progress
    )
    if validation:
        table = validate_table(table, space, validation, on_progress=on_progress)
    save_table(table, path)
    return table


def save_table(table: LatencyTable, path: str | os.PathLike) -> None:
    """Writes `table` as JSON (atomically), creating the folder."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, json.dumps(table.get_config(), indent=1))


def run_latency_table(
    run_dir: str,
    space,
    batch_size: int = 1,
    runtime: str = "keras",
    threads: int | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> LatencyTable:
    """The latency table a search in `run_dir` uses: the run's own copy (`RUN_TABLE`) when it
    has one, else the cached (or newly measured) table, copied into the run.

    Raises:
        LatencyError: the run's copy is damaged or of another version. It is not measured
            again by itself: the run's finished trials were scored with it.
    """
    path = Path(run_dir) / RUN_TABLE
    if path.is_file():
        try:
            return read_table(path)
        except LatencyError as error:
            raise LatencyError(
                f"{error} The finished trials of run '{run_dir}' were scored and ranked with "
                "it, and a new table would cost the rest differently. Start a new run (another "
                "--run-dir), or finish this one with the bottleneck-search that started it."
            ) from error
    table = cached_table(space, batch_size, runtime, threads, on_progress=on_progress)
    save_table(table, path)
    return table


def read_table(path: str | os.PathLike) -> LatencyTable:
    """A table file written by `save_table`.

    Raises:
        LatencyError: an unreadable or damaged file.
    """
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise LatencyError(f"Latency table {path} cannot be read: {error}.") from error
    return LatencyTable.from_config(data, source=str(path))
