"""`export_architectures`: trained models, SavedModels and architecture descriptions of the best
trials of a run, each written to a temporary folder and renamed into place when complete."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import tempfile

import keras

from bottleneck_search.argument_validation import check_count
from bottleneck_search.errors import ResultsError
from bottleneck_search.flops import count_flops
from bottleneck_search.model_io import onnx_unavailable
from bottleneck_search.recipe import steps_per_epoch
from bottleneck_search.results.baseline import built_model
from bottleneck_search.results.confirmed import ConfirmedArchitecture, summarise
from bottleneck_search.results.onnx_export import validation_images, write_onnx
from bottleneck_search.results.pareto import pareto_front
from bottleneck_search.rundir.confirmations import ConfirmationLog
from bottleneck_search.rundir.environment import library_versions
from bottleneck_search.rundir.files import EXPORT, default_mode, trial_folder, write_atomically
from bottleneck_search.rundir.run import Run, load_run, require_completed
from bottleneck_search.rundir.trial_log import TrialRecord
from bottleneck_search.space.architecture import Architecture
from bottleneck_search.space.search_space import SearchSpace
from bottleneck_search.space.user_build import HYPERPARAMETERS, UserBuild, user_build_record
from bottleneck_search.training.fit import compile_model, fit_model

EXPORTS = "exports.json"
# The Keras backends whose models `model.export` can write as a TF SavedModel.
SAVED_MODEL_BACKENDS = ("tensorflow", "jax")
# Exports are assembled in `.export-<pid>-*` next to the output folder and renamed into place.
_STAGING = ".export-"


def export_architectures(
    run: str | os.PathLike | list | Run,
    out: str | os.PathLike | None = None,
    top: int = 1,
    pareto: bool = False,
    retrain_epochs: int | None = None,
    overwrite: bool = False,
    onnx: bool = False,
) -> list[str]:
    """Exports the best trials of a run, one folder each, plus `exports.json` listing them.

    Each `trial_<id>/` folder holds `model.keras` (the weights of the architecture's best
    confirmation run by validation accuracy when the run has confirmed it, else the trial's
    checkpoint, its final epoch; or, with `retrain_epochs`, the architecture retrained from
    scratch on train + validation data), `saved_model/` (for TF
    Serving / `tf.saved_model.load`; on the TensorFlow and JAX backends, see
    `saved_model_unavailable`), `architecture.json` (decisions per site, costs, metrics,
    source space, reduction options, library versions; `apply_bottlenecks` takes it) and
    `flops.txt` (the per-layer FLOP table). A folder appears complete or not at all.

    Args:
        run: the run directory, the directories of one distributed run, or a loaded `Run`.
        out: the output folder; `<run>/export` by default. An existing one is refused unless
            `overwrite`.
        top: export the `top` trials by score.
        pareto: export the whole Pareto front instead of the top trials.
        retrain_epochs: retrain each architecture from scratch (a `--warm-start` run's from its
            warm start) for this many epochs on the run's train + validation data instead of
            using the checkpoint.
        overwrite: replace an existing output folder.
        onnx: also write `model.onnx` in each folder, checked in ONNX Runtime against Keras on
            the run's validation images (needs `pip install 'bottleneck-search[onnx]'` and the
            TensorFlow backend).

    Returns:
        The exported trial folders.

    Raises:
        ResultsError: no completed trials, a missing or unreadable checkpoint, `top < 1`, an
            existing output folder, ONNX asked for but unavailable, or an ONNX model that
            disagrees with Keras.

    Example:

    ```python
    folders = export_architectures(run_dir, out=f"{tmp}/export", top=1)
    model = keras.saving.load_model(f"{folders[0]}/model.keras", safe_mode=True)
    ```
    """
    run = run if isinstance(run, Run) else load_run(run)
    check_count("top", top, error=ResultsError)
    if retrain_epochs is not None:
        check_count("retrain_epochs", retrain_epochs, error=ResultsError)
    require_completed(run)
    if onnx and (reason := onnx_unavailable()) is not None:
        raise ResultsError(reason)
    chosen = pareto_front(run) if pareto else run.ranked()[:top]
    out = os.fspath(out) if out is not None else os.path.join(run.path, EXPORT)
    if os.path.exists(out) and not overwrite:
        raise ResultsError(
            f"Output folder '{out}' already exists; pass overwrite=True (--overwrite) to replace it, or "
            "choose another out (--out)."
        )
    confirmation = summarise(ConfirmationLog(run.path).read())
    confirmed = {row.best_run.key: row for row in confirmation.rows} if confirmation else {}
    for record in chosen:
        checkpoint = run.checkpoint(record.trial_id)
        if (
            retrain_epochs is None
            and record.key not in confirmed
            and not os.path.isfile(checkpoint)
        ):
            raise ResultsError(_no_weights(record, checkpoint))

    if retrain_epochs is not None or onnx:  # a --warm-start run retrains from its warm starts
        space, data = run.trained_space_and_data()
    else:
        space, data = run.space(), None
    images = validation_images(data.val) if onnx else None
    parent = os.path.dirname(os.path.abspath(out))
    os.makedirs(parent, exist_ok=True)
    _remove_abandoned_staging(parent)
    staging = tempfile.mkdtemp(prefix=f"{_STAGING}{os.getpid()}-", dir=parent)
    os.chmod(staging, default_mode(directory=True))
    try:
        exported, checks = [], []
        for record in chosen:
            folder = os.path.join(staging, trial_folder(record.trial_id))
            os.makedirs(folder)
            row = None if retrain_epochs else confirmed.get(record.key)
            model = _trained_model(run, space, record, data, retrain_epochs, row)
            _write_trial(folder, model, space, record, _weights_note(retrain_epochs, row), row)
            checks.append(write_onnx(model, folder, images) if onnx else None)
            exported.append(trial_folder(record.trial_id))
        listing = {
            "run": os.path.abspath(run.path),
            "backend": keras.backend.backend(),
            "saved_model": saved_model_unavailable() or "saved_model/ in each folder",
            "selection": "pareto" if pareto else f"top {top} by score",
            "retrain_epochs": retrain_epochs,
            "exports": [
                {
                    "folder": name,
                    "trial_id": r.trial_id,
                    "macs": r.macs,
                    "val_accuracy": r.val_accuracy,
                    **({"metric": r.metric} if r.metric is not None else {}),
                    "score": r.score,
                    **({"onnx": check} if check is not None else {}),
                }
                for name, r, check in zip(exported, chosen, checks, strict=True)
            ],
        }
        write_atomically(os.path.join(staging, EXPORTS), json.dumps(listing, indent=2))
        _replace(staging, out, overwrite)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return [os.path.join(out, name) for name in exported]


def saved_model_unavailable() -> str | None:
    """Why this process' Keras backend cannot export a TF SavedModel, or None when it can."""
    backend = keras.backend.backend()
    if backend in SAVED_MODEL_BACKENDS:
        return None
    return (
        f"no saved_model/ written: Keras exports a TF SavedModel from the "
        f"{' and '.join(SAVED_MODEL_BACKENDS)} backends, not from {backend}. model.keras holds "
        "the same model for every backend: export again under KERAS_BACKEND=tensorflow (the "
        "CLI's --backend tensorflow) for a SavedModel."
    )


def _remove_abandoned_staging(parent: str) -> None:
    """Deletes the hidden staging folders of exports whose process died (a kill mid-export)."""
    for entry in os.scandir(parent):
        match = re.match(rf"^{re.escape(_STAGING)}(\d+)-", entry.name)
        if match and entry.is_dir() and not _process_alive(int(match.group(1))):
            shutil.rmtree(entry.path, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0 only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        pass
    return True


def _replace(staging: str, out: str, overwrite: bool) -> None:
    if os.path.exists(out):
        if not overwrite:
            raise ResultsError(
                f"Output folder '{out}' appeared while exporting; nothing was replaced."
            )
        # The old export waits in a hidden folder: a kill now leaves no folder that looks complete.
        old = tempfile.mkdtemp(prefix=f"{_STAGING}{os.getpid()}-old-", dir=os.path.dirname(staging))
        os.rename(out, os.path.join(old, "previous"))
        os.rename(staging, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(staging, out)


def _no_weights(record: TrialRecord, checkpoint: str) -> str:
    """Why a trial without `--retrain-epochs` cannot be exported, and what to do instead."""
    if record.estimated:
        return (
            f"Trial {record.trial_id} was scored with a one-shot search's supernet and never "
            "trained on its own; confirm it first (bottleneck-search confirm RUN --top K), or "
            "pass retrain_epochs (--retrain-epochs) to train it."
        )
    return (
        f"Trial {record.trial_id} has no checkpoint at '{checkpoint}'; the run directory is "
        "incomplete. Export other trials, or pass retrain_epochs (--retrain-epochs) to train the "
        "architecture again."
    )


def _trained_model(
    run: Run,
    space: SearchSpace,
    record: TrialRecord,
    data,
    retrain_epochs: int | None,
    confirmed: ConfirmedArchitecture | None,
) -> keras.Model:
    keras.backend.clear_session()
    task = run.task()
    # Your build's model comes compiled by it, as its trial was; a space's is compiled here.
    model = built_model(space, record.architecture, record.hyperparameters)
    if retrain_epochs is None:
        weights = (
            os.path.join(run.path, confirmed.best_run.weights)
            if confirmed is not None
            else run.checkpoint(record.trial_id)
        )
        try:
            model.load_weights(weights)
        except (ValueError, OSError, KeyError) as error:
            raise ResultsError(
                f"Trial {record.trial_id}: weights '{weights}' cannot be read ({error})."
            ) from error
        if not isinstance(space, UserBuild):
            # Saved compiled with the run's task, so `evaluate` works on the loaded file at once.
            compile_model(model, task)
        return model
    config = run.search_config()
    keras.utils.set_random_seed(config.seed)
    train = data.train.concatenate(data.val)
    if not isinstance(space, UserBuild):
        compile_model(
            model,
            task,
            config.training.recipe().optimizer(steps_per_epoch((train,), {}), retrain_epochs),
        )
    fit_model(model, train, epochs=retrain_epochs)
    return model


def _weights_note(retrain_epochs: int | None, confirmed: ConfirmedArchitecture | None) -> str:
    if retrain_epochs:
        return f"retrained {retrain_epochs} epochs on train + validation"
    if confirmed is not None:
        best = confirmed.best_run
        return (
            f"confirmation run with seed {best.seed} ({best.metric or 'validation'} "
            f"{best.val_accuracy:.4f}, test "
            f"{best.test_accuracy:.4f}; the best of {confirmed.seeds} seeds by validation)"
        )
    return "final epoch of the trial"


def _write_trial(
    folder: str,
    model: keras.Model,
    space: SearchSpace,
    record: TrialRecord,
    weights: str,
    confirmed: ConfirmedArchitecture | None,
) -> None:
    model.save(os.path.join(folder, "model.keras"))
    if isinstance(space, UserBuild):
        write_atomically(
            os.path.join(folder, HYPERPARAMETERS),
            json.dumps(user_build_record(space, record.hyperparameters), indent=2),
        )
    if saved_model_unavailable() is None:
        model.export(os.path.join(folder, "saved_model"), verbose=False)
    report = count_flops(model)
    write_atomically(os.path.join(folder, "flops.txt"), report.table() + "\n")
    architecture = Architecture.from_widths(
        record.architecture, macs=report.macs, flops=report.flops, params=report.params
    )
    description = {
        **architecture.get_config(),
        "trial_id": record.trial_id,
        "val_accuracy": record.val_accuracy,
        **({"metric": record.metric} if record.metric is not None else {}),
        "score": record.score,
        "weights": weights,
        **(
            {
                "confirmed": {
                    "seeds": confirmed.seeds,
                    "val_mean": confirmed.val_mean,
                    "val_std": confirmed.val_std,
                    "test_mean": confirmed.test_mean,
                    "test_std": confirmed.test_std,
                }
            }
            if confirmed is not None
            else {}
        ),
        **_source_description(space, record),
        "versions": library_versions(),
    }
    write_atomically(os.path.join(folder, "architecture.json"), json.dumps(description, indent=2))


def _source_description(space: SearchSpace | UserBuild, record: TrialRecord) -> dict:
    """What `architecture.json` says of where the architecture came from: the space (its
    sites' structural keys and reduction options, which `apply_bottlenecks` reads), or your
    build with the trial's every hyperparameter (`hyperparameters.json` holds them too)."""
    if isinstance(space, UserBuild):
        return {
            "hypermodel": {"name": space.name, **space.code.to_config()},
            "hyperparameters": record.hyperparameters,
        }
    source = dict(space.source)
    if "path" in source:
        source["file"] = os.path.basename(source.pop("path"))
    return {
        "space": {"name": space.name, **source},
        **(
            {"site_keys": {site.name: site.key for site in space.sites}}
            if all(site.key for site in space.sites)
            else {}
        ),
        "reduction": dataclasses.asdict(space.reduction),
    }
