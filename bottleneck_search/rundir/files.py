"""Files of a run directory: their names, atomic writes, and the disk checks made before a search.

| file | written by |
| --- | --- |
| `config.json` | the search, once, before its first trial |
| `trials.jsonl` | one appended line per finished trial |
| `lineage.jsonl` | an evolutionary search: one appended line per proposed trial |
| `confirmations.jsonl`, `confirmed/<architecture>/seed-<n>.weights.h5` | the confirmation stage: a line and the weights per retraining |
| `trial_<id>/checkpoint.weights.h5` | Keras Tuner: the trial's best-epoch weights |
| `oracle.json`, `tuner0.json`, `trial_<id>/trial.json` | Keras Tuner's state |
| `trials.csv`, `pareto.png`, `report.md` | the report |
| `export/` | the export |
| `original.keras`, `data.npz` | a job given a model or data in memory (Python) |
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from bottleneck_search.errors import SearchConfigError

CONFIG = "config.json"
TRIAL_LOG = "trials.jsonl"
LINEAGE = "lineage.jsonl"  # an evolutionary search's parent and mutation of each trial
CONFIRMATION_LOG = "confirmations.jsonl"
CONFIRMED = "confirmed"
CHECKPOINT = "checkpoint.weights.h5"
TRIALS_CSV = "trials.csv"
PARETO_PNG = "pareto.png"
REPORT_MD = "report.md"
# A compress run's own files: before and after (`compress.job`), the per-site sensitivity table
# (`rundir.sensitivity`) and its plot.
COMPRESSION_JSON = "compression.json"
# A model or data given in memory from Python (`keep_original_model`, `keep_in_memory_data`).
ORIGINAL_MODEL = "original.keras"
DATA_NPZ = "data.npz"
AUTH_TOKEN = "auth-token"  # a distributed chief's token, mode 0600 (see search.served.auth)
REFUSED = "refused.jsonl"  # the reports a chief refused: which worker, which trial, why
ISSUED = "issued.jsonl"  # which worker a chief issued each trial to (for the chief's restart)
SENSITIVITY_JSON = "sensitivity.json"
SENSITIVITY_CSV = "sensitivity.csv"
SENSITIVITY_PNG = "sensitivity.png"
EXPORT = "export"

# Prefixes of the files this package writes before renaming them into place.
_TEMPORARY = re.compile(r"^\.(tmp|probe)-.+")
# Write failures that no other architecture would avoid: a search stops instead of failing trials.
STORAGE_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM}
)


def default_run_dir(stem: str) -> str:
    """`runs/<stem>-<YYYYmmdd-HHMMSS>`: where a job writes when it is given no run directory."""
    return os.path.join("runs", f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}")


def trial_folder(trial_id: str) -> str:
    """The folder name Keras Tuner (and an export) gives a trial: `trial_<id>`."""
    return f"trial_{trial_id}"


@functools.cache
def _umask() -> int:
    # Read once, without setting it where the kernel tells (Linux): os.umask() can only read the
    # mask by changing it, which would race with other threads (a chief's gRPC server) creating files.
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status") as status:
        for line in status:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


def default_mode(directory: bool = False) -> int:
    """The permissions a plain `open()` / `mkdir()` gives under the process' umask (read once)."""
    return (0o777 if directory else 0o666) & ~_umask()


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, mode: int | None = None) -> Iterator[str]:
    """Yields a temporary path next to `path`; on success it is synced and renamed to `path`.

    A crash or an error inside the block leaves `path` as it was (absent, or its old version) and
    no temporary file. The file gets the permissions a plain `open()` would give it, or `mode`
    (set before anything is written: a secret is never readable by others, even mid-write).

    Example:

    ```python
    with atomic_output(f"{run_dir}/notes.txt") as temporary, open(temporary, "w") as handle:
        handle.write("seed 2, digits")
    ```
    """
    path = os.fspath(path)
    fd, temporary = tempfile.mkstemp(
        dir=os.path.dirname(path) or ".", prefix=".tmp-", suffix=os.path.basename(path)
    )
    os.close(fd)
    os.chmod(temporary, default_mode() if mode is None else mode)
    try:
        yield temporary
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def append_line(path: str | os.PathLike, text: str) -> None:
    """Appends `text` and a newline with one `write`, then syncs it to disk.

    A line a crash cut short has no newline; the next append first terminates it, so a reader
    that skips lines it cannot parse never mistakes the remains for a record.
    """
    line = (text + "\n").encode("utf-8")
    directory = os.path.dirname(os.fspath(path))
    if directory:
        os.makedirs(directory, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def complete_lines(path: str | os.PathLike) -> list[str]:
    """The lines of a file written by `append_line`, without a last one a crash cut short."""
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    lines = text.split("\n")
    return lines[:-1]  # after the final newline: "" when whole, a cut-short line otherwise


def write_atomically(path: str | os.PathLike, data: str | bytes, mode: int | None = None) -> None:
    """Writes text (UTF-8) or bytes to `path` through a temporary file and a rename (with
    permissions `mode` when given; see `atomic_output`).

    Example:

    ```python
    write_atomically(f"{run_dir}/notes.md", "# Notes\\n")
    ```
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_output(path, mode) as temporary, open(temporary, "wb") as handle:
        handle.write(payload)


def remove_stale_temporaries(run_dir: str) -> None:
    """Deletes the `.tmp-*` and `.probe-*` files an earlier, killed process left mid-write."""
    for folder, _, files in os.walk(run_dir):
        for name in files:
            if _TEMPORARY.match(name):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(folder, name))


def is_storage_error(error: BaseException | None) -> bool:
    """Whether `error` is a write failure of the disk or directory (full, read-only, forbidden)."""
    return isinstance(error, OSError) and error.errno in STORAGE_ERRNOS


def keep_original_model(model, run_dir: str) -> str:
    """Saves an in-memory model a run works on as `<run>/original.keras` (once: a resumed run
    keeps the first), so that trainer processes, resume, report and export load it as a file;
    returns its path."""
    path = os.path.join(run_dir, ORIGINAL_MODEL)
    if not os.path.isfile(path):
        with atomic_output(path) as temporary:
            model.save(temporary)
    return path


def keep_in_memory_data(spec, run_dir: str) -> str:
    """Writes a data set given in memory (arrays, `tf.data`, `PyDataset`) into the run as
    `<run>/data.npz`, so that trainer processes, resume, confirmation and export read it as a
    file; returns its `npz:` spec. A resumed run must be given the same data.

    Raises:
        SearchConfigError: the run already keeps other data.
    """
    # Imported here: reading a run directory (the CLI's report, export) must not load TensorFlow.
    from bottleneck_search.data.formats import read_npz, write_npz
    from bottleneck_search.data.in_memory import in_memory_arrays

    x, y = in_memory_arrays(spec)
    path = kept_data_spec(run_dir).removeprefix("npz:")
    if os.path.isfile(path):
        kept_x, kept_y, _ = read_npz(path)
        if not (np.array_equal(kept_x, x) and _same_labels(kept_y, y)):
            raise SearchConfigError(
                f"Run '{run_dir}' was started on other data than the data given now (it keeps "
                f"its own in {DATA_NPZ}). Resume with the same data, or start a new run directory."
            )
    else:
        with atomic_output(path) as temporary, open(temporary, "wb") as handle:
            write_npz(handle, x, y)
    return kept_data_spec(run_dir)


def kept_data_spec(run_dir: str) -> str:
    """The data set spec of the data a run keeps (`keep_in_memory_data`)."""
    return f"npz:{os.path.join(run_dir, DATA_NPZ)}"


def _same_labels(kept, given) -> bool:
    if isinstance(kept, tuple) or isinstance(given, tuple):
        return (
            isinstance(kept, tuple)
            and isinstance(given, tuple)
            and len(kept) == len(given)
            and all(np.array_equal(a, b) for a, b in zip(kept, given, strict=True))
        )
    return np.array_equal(kept, given)


def create_run_dir(run_dir: str) -> None:
    """Creates `run_dir` and proves it can be written (4 KiB, synced), before any training.

    Raises:
        SearchConfigError: the directory cannot be created or written (permissions, full disk).
    """
    try:
        os.makedirs(run_dir, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=run_dir, prefix=".probe-") as probe:
            probe.write(b"x" * 4096)
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as error:
        raise SearchConfigError(
            f"Run directory '{run_dir}' cannot be written: {error.strerror or error}."
        ) from error


def estimated_bytes(trials: int, largest_params: int) -> int:
    """A generous estimate of what a search writes: one float32 weight checkpoint of the largest
    architecture and 64 KiB of Keras Tuner state per trial."""
    return trials * (4 * largest_params + 64 * 1024)


def check_free_space(run_dir: str, needed: int) -> None:
    """Refuses to start a search whose run directory's disk has less than `needed` bytes free.

    Raises:
        SearchConfigError: naming the free and the needed space.
    """
    free = shutil.disk_usage(run_dir).free
    if free < needed:
        raise SearchConfigError(
            f"Run directory '{run_dir}' has {free / 2**20:,.1f} MiB free, but this search writes about "
            f"{needed / 2**20:,.1f} MiB (checkpoints and tuner state). Free some space or choose another "
            f"run_dir. Received: run_dir={run_dir!r}.",
            argument="run_dir",
        )


def read_run_config(run_dir: str) -> dict[str, Any] | None:
    """The run's `config.json` as a dict, or None when the directory has none.

    Raises:
        SearchConfigError: the file cannot be read, or is not a JSON object (cut short, edited).
    """
    path = os.path.join(run_dir, CONFIG)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            config = json.load(handle)
    except OSError as error:
        raise SearchConfigError(f"'{path}' cannot be read ({error.strerror or error}).") from error
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SearchConfigError(f"'{path}' is corrupted ({error}).") from error
    if not isinstance(config, dict):
        raise SearchConfigError(f"'{path}' is corrupted (not a JSON object).")
    return config


def check_run_dir(run_dir: str, resume: bool) -> dict[str, Any] | None:
    """Checks that `run_dir` may be used, creating nothing; returns the saved config when resuming.

    Raises:
        SearchConfigError: a non-empty directory without `resume`, or nothing to resume.
    """
    exists = os.path.isdir(run_dir) and any(os.scandir(run_dir))
    if exists and not resume:
        raise SearchConfigError(
            f"Run directory '{run_dir}' already holds a run. Resume it (resume=True; --resume), or "
            f"choose another run_dir; nothing is overwritten. Received: run_dir={run_dir!r}.",
            argument="run_dir",
        )
    if not resume:
        return None
    saved = read_run_config(run_dir)
    if saved is None:
        raise SearchConfigError(
            f"Nothing to resume in '{run_dir}': it has no {CONFIG}. Start a new search (resume=False). "
            f"Received: run_dir={run_dir!r}, resume=True.",
            argument="resume",
        )
    return saved
