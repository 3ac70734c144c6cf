"""The run directory of a search job: refusing to overwrite, `config.json`, atomic writes."""

from __future__ import annotations

import errno
import json
import os
import platform
import shutil
import tempfile
from typing import Any

from bottleneck_search.errors import SearchConfigError

CONFIG = "config.json"
# Write failures that no other architecture would avoid: a search stops instead of failing trials.
STORAGE_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM}
)


def default_mode(directory: bool = False) -> int:
    """The permissions a plain `open()` / `mkdir()` would give under the current umask."""
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if directory else 0o666) & ~umask


def write_atomically(path: str, text: str) -> None:
    """Writes `text` to `path` through a temporary file and a rename: never half-written."""
    directory = os.path.dirname(path) or "."
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=os.path.basename(path))
    os.chmod(temporary, default_mode())
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def is_storage_error(error: BaseException | None) -> bool:
    """Whether `error` is a write failure of the disk or directory (full, read-only, forbidden)."""
    return isinstance(error, OSError) and error.errno in STORAGE_ERRNOS


def library_versions() -> dict[str, str]:
    import keras
    import keras_tuner
    import tensorflow

    import bottleneck_search

    return {
        "python": platform.python_version(),
        "bottleneck_search": bottleneck_search.__version__,
        "tensorflow": tensorflow.__version__,
        "keras": keras.__version__,
        "keras_tuner": keras_tuner.__version__,
    }


def check_run_dir(run_dir: str, resume: bool) -> dict[str, Any] | None:
    """Checks that `run_dir` may be used, creating nothing; returns the saved config when resuming.

    Raises:
        SearchConfigError: a non-empty directory without `resume`, or nothing to resume.
    """
    exists = os.path.isdir(run_dir) and any(os.scandir(run_dir))
    if exists and not resume:
        raise SearchConfigError(
            f"Run directory '{run_dir}' already holds a run. Pass --resume to continue it, or choose "
            "another --run-dir; nothing is overwritten."
        )
    if not resume:
        return None
    saved = read_run_config(run_dir)
    if saved is None:
        raise SearchConfigError(
            f"Nothing to resume in '{run_dir}': it has no {CONFIG}. Start a new search without --resume."
        )
    return saved


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
            "--run-dir."
        )
