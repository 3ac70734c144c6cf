"""Command lines shared by the tests that drive `bottleneck-search search`."""


def search_argv(space, run_dir, *extra, trials=2, epochs=1):
    """`search --space SPACE --run-dir RUN_DIR --max-trials T --epochs E EXTRA...`."""
    return [
        "search",
        "--space",
        str(space),
        "--run-dir",
        str(run_dir),
        "--max-trials",
        str(trials),
        "--epochs",
        str(epochs),
        *extra,
    ]
