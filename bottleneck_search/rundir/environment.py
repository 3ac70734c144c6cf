"""What a run was trained with: the Keras backend and the library versions recorded in its
`config.json` (and an export's manifest)."""

from __future__ import annotations

import platform
from typing import Any

from bottleneck_search.errors import SearchConfigError


def check_same_backend(saved: dict[str, Any], run_dir: str) -> None:
    """Refuses to resume, with this process' Keras backend, a run trained with another one
    (runs written before the backend was recorded were TensorFlow's).

    Raises:
        SearchConfigError: naming both backends and how to pick the run's.
    """
    import keras

    recorded = saved.get("backend", "tensorflow")
    current = keras.backend.backend()
    if recorded != current:
        raise SearchConfigError(
            f"Run '{run_dir}' was trained with the {recorded} backend, and this process uses "
            f"{current}; its checkpoints and tuner state belong to {recorded}. Resume with "
            f"KERAS_BACKEND={recorded} (the CLI's --backend {recorded})."
        )


def library_versions() -> dict[str, str]:
    """The versions of Python and of the libraries that decide a run's results."""
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
