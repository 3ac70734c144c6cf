"""Every bad input of every command, through the CLI: one line on stderr, exit code 2, no traceback.

The cases are the README's table "Bad input and what you see"; `test_the_readme_lists_every_case`
keeps the two in step. Security cases (path traversal, absurd sizes, code in YAML or a model
file) are among them.
"""

import gzip
import json
import re
import shutil
from pathlib import Path

import keras
import pytest
from conftest import ROOT, SPACES, cached_hand_table, search_argv, tls_files

from bottleneck_search.cli import main

L = keras.layers
TINY_ARGS = ["--max-trials", "3", "--epochs", "2", "--seed", "2"]  # as conftest's tiny_run


def _write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def _chief(space, tmp: Path, *extra) -> list[str]:
    return search_argv(space, tmp / "run", "--chief", "127.0.0.1:1", *extra)


def _token_file(tmp: Path, text: str, mode: int) -> str:
    path = tmp / "token"
    path.write_text(text)
    path.chmod(mode)
    return str(path)


def _yaml(tmp: Path, layers: str, head: str = "input_shape: [8, 8, 1]\nclasses: 10\n") -> str:
    return _write(tmp / "s.yaml", f"name: x\n{head}layers:\n{layers}")


def _architecture(tmp: Path, data: dict) -> list[str]:
    return [
        "space",
        str(SPACES / "inception_mini.yaml"),
        "--architecture",
        _write(tmp / "a.json", json.dumps(data)),
    ]


def _lambda_model(tmp: Path) -> str:
    inputs = keras.Input((4,))
    keras.Model(inputs, L.Lambda(lambda x: x * 2)(inputs)).save(tmp / "m.keras")
    return str(tmp / "m.keras")


def _digits_model(tmp: Path, reduced: bool = False) -> str:
    """An untrained conv net on 8x8 digits; `reduced`: each 3x3 conv follows a 1x1 conv."""
    inputs = keras.Input((8, 8, 1))
    x = L.Conv2D(16, 3, padding="same", name="c1")(inputs)
    if reduced:
        x = L.Conv2D(8, 1, name="c2_reduce")(x)
    x = L.Conv2D(32, 3, padding="same", name="c2")(x)
    outputs = L.Dense(10, activation="softmax")(L.GlobalAveragePooling2D()(x))
    keras.Model(inputs, outputs).save(tmp / "m.keras")
    return str(tmp / "m.keras")


def _head_model(tmp: Path, head: str) -> str:
    """A digits-sized conv net with a `segmentation` (per-pixel), `regression` (one linear unit)
    or `grouped` (its only wide 3x3 conv grouped in 16: no width below 16 is a multiple) head."""
    inputs = keras.Input((8, 8, 1))
    x = L.Conv2D(16, 3, padding="same", name="c1")(inputs)
    x = L.Conv2D(16, 3, padding="same", name="c2", groups=16 if head == "grouped" else 1)(x)
    if head == "segmentation":
        outputs = L.Conv2D(10, 1, activation="softmax")(x)
    else:
        outputs = L.Dense(1 if head == "regression" else 10)(L.GlobalAveragePooling2D()(x))
    keras.Model(inputs, outputs).save(tmp / f"{head}.keras")
    return str(tmp / f"{head}.keras")


def _lstm_model(tmp: Path) -> str:
    inputs = keras.Input((5, 3))
    keras.Model(inputs, L.LSTM(2, name="rnn")(inputs)).save(tmp / "m.keras")
    return str(tmp / "m.keras")


def _free_size_model(tmp: Path) -> str:
    inputs = keras.Input((None, None, 3))
    keras.Model(inputs, L.Conv2D(2, 3)(inputs)).save(tmp / "m.keras")
    return str(tmp / "m.keras")


def _siteless_model(tmp: Path) -> str:
    inputs = keras.Input((8, 8, 3))
    keras.Model(inputs, L.Conv2D(4, 3)(inputs), name="rgb").save(tmp / "rgb.keras")
    return str(tmp / "rgb.keras")


def _copy_run(run: Path, tmp: Path) -> Path:
    copy = tmp / "copy"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("export*"))
    return copy


def _run_without_completed_trials(
    tmp: Path, trial_id: str = "0", status: str = "INFEASIBLE"
) -> str:
    run = tmp / "r"
    run.mkdir()
    (run / "config.json").write_text("{}")
    record = {
        "trial_id": trial_id,
        "status": status,
        "architecture": {},
        "macs": 1,
        "flops": 2,
        "params": 3,
        "val_accuracy": 0.5 if status == "COMPLETED" else None,
        "score": 0.5 if status == "COMPLETED" else None,
        "epochs": 1,
        "seconds": 0.0,
    }
    (run / "trials.jsonl").write_text(json.dumps(record) + "\n")
    return str(run)


def _without_best_checkpoint(run: Path, tmp: Path) -> str:
    copy = _copy_run(run, tmp)
    for folder in copy.glob("trial_*"):
        (folder / "checkpoint.weights.h5").unlink(missing_ok=True)
    return str(copy)


def _with_garbage(run: Path, tmp: Path, name: str) -> str:
    copy = _copy_run(run, tmp)
    (copy / name).write_text("\x00garbage{")
    return str(copy)


# (id, command line built from (tmp_path, tiny space path, tiny finished run), expected message)
CASES = [
    # flops
    ("flops_missing_file", lambda t, s, r: ["flops", str(t / "none.keras")], "does not exist"),
    (
        "flops_not_a_model",
        lambda t, s, r: ["flops", _write(t / "m.keras", "not a model")],
        "is not a Keras model file",
    ),
    (
        "flops_unsafe_model",
        lambda t, s, r: ["flops", _lambda_model(t)],
        "which can execute arbitrary code, so it was refused. If you trust the file, pass --unsafe-load",
    ),
    (
        "flops_unsupported_layer",
        lambda t, s, r: ["flops", _lstm_model(t)],
        "'rnn' of class LSTM has no FLOP counting function",
    ),
    (
        "flops_unknown_application",
        lambda t, s, r: ["flops", "--application", "ResNet5"],
        "Unknown keras.applications model 'ResNet5'",
    ),
    ("flops_no_model", lambda t, s, r: ["flops"], "flops needs a model"),
    (
        "flops_free_input_size",
        lambda t, s, r: ["flops", _free_size_model(t)],
        "(CLI: --input-shape 224,224,3)",
    ),
    (
        "flops_input_shape_does_not_fit",
        lambda t, s, r: ["flops", _free_size_model(t), "--input-shape", "8,8,1"],
        "does not fit model",
    ),
    (
        "flops_bad_input_shape",
        lambda t, s, r: ["flops", "--application", "ResNet50", "--input-shape", "224,0,3"],
        "dimensions must be positive",
    ),
    # space: YAML backbones
    ("space_missing_yaml", lambda t, s, r: ["space", str(t / "none.yaml")], "does not exist"),
    (
        "space_wrong_extension",
        lambda t, s, r: ["space", _write(t / "s.txt", "")],
        "neither a YAML backbone",
    ),
    (
        "space_typo_key",
        lambda t, s, r: ["space", _yaml(t, "", "input_shape: [8, 8, 3]\nclasses: 2\nlayer: []\n")],
        "s.yaml:4: unknown key 'layer'",
    ),
    (
        "space_unknown_block",
        lambda t, s, r: ["space", _yaml(t, "  - pooling: {}\n")],
        "s.yaml:5: unknown block type 'pooling'",
    ),
    (
        "space_yaml_code_tag",
        lambda t, s, r: [
            "space",
            _yaml(t, "  - conv: !!python/object/apply:os.system ['touch pwned']\n"),
        ],
        "could not determine a constructor for the tag",
    ),
    (
        "space_yaml_path_in_name",
        lambda t, s, r: [
            "space",
            _yaml(t, "  - conv: {name: ../../etc/x, filters: 8, kernel: 3}\n"),
        ],
        "'name' must be a name of letters",
    ),
    (
        "space_yaml_absurd_filters",
        lambda t, s, r: [
            "space",
            _yaml(t, "  - conv: {name: c, filters: 1000000000, kernel: 3}\n"),
        ],
        "'filters' must be an integer from 1 to 16384",
    ),
    (
        "space_yaml_unknown_activation",
        lambda t, s, r: [
            "space",
            _yaml(t, "  - conv: {name: c, filters: 8, kernel: 3, activation: relux}\n"),
        ],
        "'activation' must be a Keras activation name",
    ),
    (
        "space_yaml_absurd_input",
        lambda t, s, r: [
            "space",
            _yaml(t, "  - global_pool: {name: g}\n", "input_shape: [100000, 8, 1]\nclasses: 10\n"),
        ],
        "with each from 1 to 4096",
    ),
    (
        "space_yaml_huge_file",
        lambda t, s, r: ["space", _yaml(t, "# padding\n" * 200_000)],
        "is over 1,000,000 bytes",
    ),
    (
        "space_model_without_sites",
        lambda t, s, r: ["space", _siteless_model(t)],
        "'rgb' has no candidate sites",
    ),
    # space: architecture JSON
    (
        "space_architecture_missing",
        lambda t, s, r: [
            "space",
            str(SPACES / "inception_mini.yaml"),
            "--architecture",
            str(t / "none.json"),
        ],
        "does not exist",
    ),
    (
        "space_architecture_unknown_site",
        lambda t, s, r: _architecture(t, {"sites": {"nope": 8}}),
        "names site 'nope'",
    ),
    (
        "space_architecture_width_not_offered",
        lambda t, s, r: _architecture(t, {"sites": {"mix1_3x3": 12}}),
        "does not offer width 12",
    ),
    (
        "space_architecture_path_as_site",
        lambda t, s, r: _architecture(t, {"sites": {"../../etc/passwd": 8}}),
        "is not a layer name",
    ),
    (
        "space_architecture_absurd_width",
        lambda t, s, r: _architecture(t, {"sites": {"mix1_3x3": 10**12}}),
        "expected an integer from 1 to 16384",
    ),
    (
        "space_architecture_code_as_activation",
        lambda t, s, r: _architecture(
            t, {"sites": {}, "reduction": {"activation": "__import__('os').system"}}
        ),
        "is not a Keras activation name",
    ),
    (
        "space_architecture_huge_file",
        lambda t, s, r: [
            "space",
            str(SPACES / "inception_mini.yaml"),
            "--architecture",
            _write(t / "a.json", " " * 1_000_001),
        ],
        "is over 1,000,000 bytes",
    ),
    # search
    (
        "search_unknown_dataset",
        lambda t, s, r: search_argv(s, t / "run", "--dataset", "minst"),
        "Unknown data set 'minst'. Valid forms: digits, fashion_mnist, mnist, cifar10, cifar100",
    ),
    (
        "search_train_size_zero",
        lambda t, s, r: search_argv(s, t / "run", "--train-size", "0"),
        "argument --train-size: `train_size` must be an integer of at least 2",
    ),
    (
        "search_confirm_seeds_zero",
        lambda t, s, r: search_argv(s, t / "run", "--confirm", "2", "--confirm-seeds", "0"),
        "argument --confirm-seeds: `seeds` must be a positive integer. Received: seeds=0.",
    ),
    (
        "search_train_size_above_the_data",
        lambda t, s, r: search_argv(s, t / "run", "--train-size", "5000"),
        "digits: train_size=5,000 is larger than the 1,527 training images there are",
    ),
    (
        "search_damaged_idx_file",
        lambda t, s, r: search_argv(
            s, t / "run", "--dataset", "fashion_mnist", "--data-dir", _idx_with_bad_magic(t)
        ),
        "is not an IDX file",
    ),
    (
        "search_tfds_offline",
        lambda t, s, r: search_argv(s, t / "run", "--dataset", "tfds:mnist", "--data-dir", str(t)),
        "not available offline",
    ),
    (
        "search_empty_image_folder",
        lambda t, s, r: (
            (t / "empty").mkdir() or search_argv(s, t / "run", "--dataset", f"folder:{t}/empty")
        ),
        "has no class sub-folders",
    ),
    (
        "search_budget_below_cheapest",
        lambda t, s, r: search_argv(s, t / "run", "--max-macs", "1000"),
        "below the cheapest architecture",
    ),
    (
        "search_input_not_adaptable",
        lambda t, s, r: search_argv(
            _write(t / "two.yaml", Path(s).read_text().replace("[8, 8, 1]", "[8, 8, 2]")), t / "run"
        ),
        "cannot be adapted",
    ),
    (
        "search_unknown_space",
        lambda t, s, r: search_argv("nonesuch", t / "run"),
        "No shipped search space named 'nonesuch'",
    ),
    (
        "search_missing_model",
        lambda t, s, r: ["search", "--model", str(t / "none.keras"), "--run-dir", str(t / "run")],
        "does not exist",
    ),
    (
        "search_unsafe_model",
        lambda t, s, r: ["search", "--model", _lambda_model(t), "--run-dir", str(t / "run")],
        "never run code from a model file",
    ),
    (
        "search_segmentation_model",
        lambda t, s, r: (
            ["search", "--model", _head_model(t, "segmentation"), "--run-dir", str(t / "run")]
        ),
        "outputs (8, 8, 10) per image, but the labels are one of 10 classes per image",
    ),
    (
        "search_regression_model",
        lambda t, s, r: (
            ["search", "--model", _head_model(t, "regression"), "--run-dir", str(t / "run")]
        ),
        "Pass a classification loss (loss=..., --loss;",
    ),
    (
        "search_unknown_loss",
        lambda t, s, r: (
            ["search", "--model", _digits_model(t), "--loss", "nonsense"]
            + ["--run-dir", str(t / "run")]
        ),
        "Keras does not know loss='nonsense' (--loss)",
    ),
    (
        "search_only_grouped_convs",
        lambda t, s, r: (
            ["search", "--model", _head_model(t, "grouped"), "--run-dir", str(t / "run")]
        ),
        "too narrow, 1 grouped)",
    ),
    (
        "search_widths_without_model",
        lambda t, s, r: search_argv(s, t / "run", "--widths", "0.5"),
        "argument --widths: widths shape the space of a model search",
    ),
    (
        "compress_segmentation_model",
        lambda t, s, r: (
            ["compress", _head_model(t, "segmentation"), "--macs-ratio", "2"]
            + ["--run-dir", str(t / "run")]
        ),
        "outputs (8, 8, 10) per image, but the labels are one of 10 classes per image",
    ),
    (
        "compress_no_budget",
        lambda t, s, r: ["compress", _digits_model(t), "--run-dir", str(t / "run")],
        "one of the arguments --max-macs --macs-ratio --max-latency --latency-ratio is required",
    ),
    (
        "compress_ratio_one",
        lambda t, s, r: ["compress", _digits_model(t), "--macs-ratio", "1"],
        "argument --macs-ratio: `macs_ratio` must be a finite number above 1",
    ),
    (
        "compress_latency_ratio_one",
        lambda t, s, r: ["compress", _digits_model(t), "--latency-ratio", "1"],
        "`latency_ratio` must be a finite number above 1. 2 halves the latency. Received: latency_ratio=1.0.",
    ),
    (
        "compress_budget_below_cheapest",
        lambda t, s, r: (
            ["compress", _digits_model(t), "--max-macs", "1000"] + ["--run-dir", str(t / "run")]
        ),
        "is below the cheapest architecture",
    ),
    (
        "compress_no_sites",
        lambda t, s, r: (
            ["compress", _digits_model(t, reduced=True), "--macs-ratio", "2"]
            + ["--run-dir", str(t / "run")]
        ),
        "has nothing to compress",
    ),
    (
        "compress_unsafe_model",
        lambda t, s, r: (
            ["compress", _lambda_model(t), "--macs-ratio", "2"] + ["--run-dir", str(t / "run")]
        ),
        "never run code from a model file",
    ),
    (
        "search_zero_trials",
        lambda t, s, r: search_argv(s, t / "run", "--max-trials", "0"),
        "argument --max-trials: `max_trials` must be a positive integer. Received: max_trials=0.",
    ),
    (
        "search_population_of_one",
        lambda t, s, r: search_argv(s, t / "run", "--tuner", "evolution", "--population-size", "1"),
        "`population_size` must be an integer from 2 to 2",
    ),
    (
        "search_population_above_the_budget",
        lambda t, s, r: search_argv(s, t / "run", "--tuner", "evolution", "--population-size", "3"),
        "`population_size` must be an integer from 2 to 2. A population is at most max_trials (2). Received: population_size=3.",
    ),
    (
        "search_population_without_evolution",
        lambda t, s, r: search_argv(s, t / "run", "--population-size", "2"),
        "argument --population-size: `population_size` is the evolution tuner's",
    ),
    (
        "search_oneshot_with_another_tuner",
        lambda t, s, r: search_argv(s, t / "run", "--strategy", "oneshot", "--tuner", "bayesian"),
        "tuner belongs to a trial-by-trial search",
    ),
    (
        "search_unknown_strategy",
        lambda t, s, r: search_argv(s, t / "run", "--strategy", "twoshot"),
        "argument --strategy: invalid choice: 'twoshot'",
    ),
    (
        "search_oneshot_evaluate_zero",
        lambda t, s, r: search_argv(s, t / "run", "--strategy", "oneshot", "--evaluate", "0"),
        "argument --evaluate: `evaluate` must be a positive integer. Received: evaluate=0.",
    ),
    (
        "search_supernet_epochs_without_oneshot",
        lambda t, s, r: search_argv(s, t / "run", "--supernet-epochs", "3"),
        "`supernet_epochs` belongs to strategy='oneshot'",
    ),
    (
        "search_trial_timeout_zero",
        lambda t, s, r: search_argv(s, t / "run", "--trial-timeout", "0"),
        "`trial_timeout` must be a positive number of seconds. Received: trial_timeout=0.0.",
    ),
    (
        "search_negative_trials_per_process",
        lambda t, s, r: search_argv(s, t / "run", "--trials-per-process", "-1"),
        "`trials_per_process` must be 0 or a positive integer",
    ),
    (
        "search_timeout_without_trainers",
        lambda t, s, r: search_argv(
            s, t / "run", "--trial-timeout", "60", "--trials-per-process", "0"
        ),
        "need trials in trainer processes",
    ),
    (
        "search_trainer_limits_in_a_distributed_search",
        lambda t, s, r: search_argv(
            s, t / "run", "--chief", "localhost:1", "--trainer-memory", "4000"
        ),
        "supervise trainer processes of a search on one machine",
    ),
    (
        "search_chief_and_worker",
        lambda t, s, r: search_argv(
            s, t / "run", "--chief", "localhost:1", "--worker", "localhost:2"
        ),
        "not allowed with argument",
    ),
    (
        "search_existing_run",
        lambda t, s, r: search_argv(s, r),
        "already holds a run. Resume it (resume=True; --resume)",
    ),
    (
        "search_nothing_to_resume",
        lambda t, s, r: search_argv(s, t / "run", "--resume"),
        "Nothing to resume",
    ),
    (
        "search_resume_other_arguments",
        lambda t, s, r: [*search_argv(s, _copy_run(r, t), "--resume"), *TINY_ARGS[:4]],
        "Cannot resume",
    ),
    (
        "search_resume_damaged_tuner_state",
        lambda t, s, r: [
            *search_argv(s, Path(_with_garbage(r, t, "oracle.json")), "--resume"),
            *TINY_ARGS,
        ],
        "oracle.json' is damaged",
    ),
    # search: a distributed search's token and TLS files
    (
        "search_token_file_missing",
        lambda t, s, r: _chief(s, t, "--auth-token-file", str(t / "none")),
        "argument --auth-token-file: The token file '",
    ),
    (
        "search_token_file_empty",
        lambda t, s, r: _chief(s, t, "--auth-token-file", _token_file(t, "", 0o600)),
        "is empty; it must hold the run's token",
    ),
    (
        "search_token_file_readable_by_others",
        lambda t, s, r: _chief(s, t, "--auth-token-file", _token_file(t, "abc", 0o644)),
        "can be read by other users (mode 0644)",
    ),
    (
        "search_worker_without_token",
        lambda t, s, r: search_argv(s, t / "run", "--worker", "127.0.0.1:9"),
        "This worker has no token for its chief",
    ),
    (
        "search_tls_cert_missing",
        lambda t, s, r: _chief(s, t, "--tls-cert", str(t / "c.pem"), "--tls-key", str(t / "k.pem")),
        "argument --tls-cert: Cannot read `tls_cert`",
    ),
    (
        "search_tls_key_of_another_certificate",
        lambda t, s, r: _chief(
            s, t, "--tls-cert", tls_files(t)["cert"], "--tls-key", tls_files(t)["other_key"]
        ),
        "argument --tls-key: `tls_key`",
    ),
    (
        "search_tls_key_alone",
        lambda t, s, r: _chief(s, t, "--tls-key", tls_files(t)["key"]),
        "argument --tls-key: TLS needs both tls_cert and tls_key",
    ),
    (
        "search_tls_ca_on_the_chief",
        lambda t, s, r: _chief(s, t, "--tls-ca", tls_files(t)["ca"]),
        "argument --tls-ca: `tls_ca` is for a worker; this process is the chief",
    ),
    (
        "search_max_latency_below_fastest",
        lambda t, s, r: search_argv(cached_hand_table(s), t / "run", "--max-latency", "0.5"),
        "is below the fastest architecture of space 'tiny' (0.976 ms predicted by its latency table)",
    ),
    (
        "search_target_latency_with_macs_cost",
        lambda t, s, r: search_argv(s, t / "run", "--target-latency", "2"),
        "`target_latency` is the latency penalty's target",
    ),
    (
        "search_unknown_cost",
        lambda t, s, r: search_argv(s, t / "run", "--cost", "energy"),
        "argument --cost: invalid choice: 'energy'",
    ),
    # latency
    (
        "latency_batch_size_zero",
        lambda t, s, r: ["latency", "--space", s, "--batch-size", "0"],
        "argument --batch-size: `batch_size` must be an integer from 1 to 65536. Received: batch_size=0.",
    ),
    (
        "latency_negative_threads",
        lambda t, s, r: ["latency", "--space", s, "--threads", "-2"],
        "argument --threads: `threads` must be an integer from 1 to 1024",
    ),
    (
        "latency_unknown_runtime",
        lambda t, s, r: ["latency", "--space", s, "--runtime", "tvm"],
        "argument --runtime: invalid choice: 'tvm'",
    ),
    (
        "latency_architecture_of_a_model_file",
        lambda t, s, r: ["latency", _digits_model(t), "--architecture", "a.json"],
        "--architecture and --table belong to --space",
    ),
    (
        "latency_model_and_space",
        lambda t, s, r: ["latency", _digits_model(t), "--space", s],
        "not allowed with argument",
    ),
    # export
    (
        "export_missing_run",
        lambda t, s, r: ["export", str(t / "nowhere"), "--out", str(t / "x")],
        "does not exist",
    ),
    (
        "export_no_completed_trials",
        lambda t, s, r: ["export", _run_without_completed_trials(t), "--out", str(t / "x")],
        "has no completed trials",
    ),
    (
        "export_trial_id_is_a_path",
        lambda t, s, r: [
            "export",
            _run_without_completed_trials(t, "../../outside", "COMPLETED"),
            "--out",
            str(t / "x"),
        ],
        "has no completed trials",
    ),
    (
        "export_missing_checkpoint",
        lambda t, s, r: ["export", _without_best_checkpoint(r, t), "--out", str(t / "x")],
        "has no checkpoint",
    ),
    (
        "export_corrupted_config",
        lambda t, s, r: ["export", _with_garbage(r, t, "config.json"), "--out", str(t / "x")],
        "is corrupted",
    ),
    (
        "export_top_zero",
        lambda t, s, r: ["export", str(r), "--top", "0", "--out", str(t / "x")],
        "argument --top: `top` must be a positive integer. Received: top=0.",
    ),
    (
        "export_existing_output",
        lambda t, s, r: (t / "x").mkdir() or ["export", str(r), "--out", str(t / "x")],
        "already exists; pass overwrite=True (--overwrite)",
    ),
    # report
    ("report_missing_run", lambda t, s, r: ["report", str(t / "nowhere")], "does not exist"),
    (
        "report_no_completed_trials",
        lambda t, s, r: ["report", _run_without_completed_trials(t)],
        "has no completed trials",
    ),
    (
        "report_garbage_trial_log",
        lambda t, s, r: ["report", _with_garbage(r, t, "trials.jsonl")],
        "has no completed trials",
    ),
]


@pytest.mark.parametrize("make_argv, message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_no_traceback(
    capsys, tmp_path, tiny_space_path, tiny_run, make_argv, message
):
    argv = make_argv(tmp_path, tiny_space_path, tiny_run)
    snapshot = _tree(tiny_run)
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's usage errors
        code = exit_.code
    out, err = capsys.readouterr()
    command = argv[0]
    assert code == 2, (out, err)
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"bottleneck-search {command}: error: "), err
    assert message in lines[0]
    assert "Traceback" not in err
    assert not (tmp_path / "run" / "trials.jsonl").exists()  # nothing trained
    assert not list(tmp_path.glob("**/pwned")) and not (tmp_path / "x" / "exports.json").exists()
    assert _tree(tiny_run) == snapshot  # the finished run given as input is never touched


def _tree(folder: Path) -> dict:
    return {str(p): p.stat().st_mtime_ns for p in sorted(folder.rglob("*")) if p.is_file()}


def test_the_readme_lists_every_case():
    readme = (ROOT / "docs" / "reliability.md").read_text()
    section = readme.split("### Bad input and what you see", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if re.match(r"^\| `", line)]
    assert len(rows) == len(CASES)
    for case_id, _, message in CASES:
        assert any(message in row for row in rows), (
            f"README table has no row for {case_id}: {message}"
        )


def _idx_with_bad_magic(folder) -> str:
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        (folder / name).write_bytes(gzip.compress(b"\x08\x03\x00\x00"))
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (folder / name).write_bytes(gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 0])))
    return str(folder)


def test_no_pickle_eval_or_exec_in_the_package():
    import ast

    # The one exception: CIFAR's python batches, read by an Unpickler that builds arrays only.
    cifar_reader = ROOT / "bottleneck_search" / "data" / "formats.py"
    assert "def find_class" in cifar_reader.read_text()
    for path in (ROOT / "bottleneck_search").rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [alias.name for alias in node.names] + [getattr(node, "module", None) or ""]
                banned = ("marshal", "dill", "shelve") + (
                    () if path == cifar_reader else ("pickle",)
                )
                assert not any(n.split(".")[0] in banned for n in names), path
            if isinstance(node, ast.Attribute) and node.attr in ("load", "loads"):
                assert not (isinstance(node.value, ast.Name) and node.value.id == "pickle"), (
                    f"{path}:{node.lineno}"
                )
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in ("eval", "exec", "compile"), f"{path}:{node.lineno}"
            if isinstance(node, ast.Attribute) and node.attr in (
                "load",
                "full_load",
                "unsafe_load",
            ):
                assert not (isinstance(node.value, ast.Name) and node.value.id == "yaml"), (
                    f"{path}:{node.lineno}"
                )


def test_unsafe_load_is_an_explicit_opt_in(capsys, tmp_path):
    from bottleneck_search import UnsafeModelError, load_model

    with pytest.raises(UnsafeModelError, match="can execute arbitrary code"):
        load_model(_lambda_model(tmp_path))
    code = main(["flops", _lambda_model(tmp_path), "--unsafe-load", "--lenient"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "TOTAL" in out.upper()
