"""What rebuilds a `SearchSpace` (`get_config` / `from_config`, as Keras saves what it can
rebuild), as JSON: a YAML space's file, its sha256 and class count; a model space's `.keras`
file (`model_file`; None for a model only in memory, which `from_config` is then given) and
every `from_model` option. Warm starts fitted on data record that they were
(`fitted_on_data`); the data itself is `from_config`'s `init_data`."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

from bottleneck_search.errors import SearchSpaceError
from bottleneck_search.space.site import ReductionOptions


def yaml_config(path, sha256: str, classes: int | None) -> dict:
    """The config of a `from_yaml` space (`classes`: its override, None for the file's own)."""
    return {"kind": "yaml", "path": os.path.abspath(path), "sha256": sha256, "classes": classes}


def model_config(model_file, reduction: ReductionOptions, fitted_on_data: bool, **options) -> dict:
    """The config of a `from_model` space (`options`: its keyword arguments)."""
    return {
        "kind": "model",
        "model": os.path.abspath(model_file) if model_file is not None else None,
        "options": {**options, "reduction": dataclasses.asdict(reduction)},
        "fitted_on_data": fitted_on_data,
    }


def rebuilt_space(cls, config: Mapping[str, Any], model=None, init_data=None):
    """`cls.from_config(config, model, init_data)` (see `SearchSpace.from_config`)."""
    kind = config.get("kind")
    if kind == "yaml":
        space = cls.from_yaml(config["path"], classes=config.get("classes"))
        if config.get("sha256") and space.source["sha256"] != config["sha256"]:
            raise SearchSpaceError(
                f"The space file {config['path']} changed since this config was saved (its "
                "sha256 differs); restore the original file."
            )
        return space
    if kind != "model":
        raise SearchSpaceError(f"Unknown space kind {kind!r}; expected 'yaml' or 'model'.")
    if model is None:
        if not config.get("model"):
            raise SearchSpaceError(
                "This space was made from a model only in memory: pass it, "
                "SearchSpace.from_config(config, model=my_model)."
            )
        from bottleneck_search.model_io import load_model

        model = load_model(config["model"], compile=False)
    options = dict(config["options"])
    # A low-rank warm start makes its own linear reductions.
    reduction = ReductionOptions(**options.pop("reduction"))
    if options["init"] != "lowrank":
        options["reduction"] = reduction
    return cls.from_model(model, **options, init_data=init_data, model_file=config.get("model"))
