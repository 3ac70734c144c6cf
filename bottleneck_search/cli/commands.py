"""One function per `bottleneck-search` sub-command: each calls one public function and prints
its result. The search command also owns what only a terminal needs: a deferred Ctrl-C, quieting
Keras Tuner's own prints, and the resume command it suggests."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys

from bottleneck_search.errors import BottleneckSearchError
from bottleneck_search.process import deferred_interrupt, frozen_garbage


def flops_command(args: argparse.Namespace) -> int:
    from bottleneck_search.flops import count_flops
    from bottleneck_search.model_io import build_application, load_model

    if args.example:
        from bottleneck_search.flops.seed_example import seed_example_models

        models = seed_example_models()
    elif args.application:
        models = [build_application(args.application, args.input_shape)]
    elif args.model:
        models = [load_model(args.model, unsafe_load=args.unsafe_load)]
    else:
        raise BottleneckSearchError(
            "flops needs a model: a .keras file, --application NAME, or --example."
        )
    # An application is built at --input-shape; a model file's free dimensions are filled with it.
    fill = args.input_shape if args.model and not (args.application or args.example) else None
    reports = [
        (
            model.name,
            count_flops(
                model, batch_size=args.batch_size, strict=not args.lenient, input_shape=fill
            ),
        )
        for model in models
    ]
    if args.json and len(reports) == 1:
        print(reports[0][1].to_json())
    elif args.json:
        print(json.dumps({name: json.loads(r.to_json()) for name, r in reports}, indent=2))
    else:
        for name, report in reports:
            print(f"== {name}")
            print(report.table())
            print()
    return 0


def space_command(args: argparse.Namespace) -> int:
    from bottleneck_search.space.catalog import load_space
    from bottleneck_search.space.summary import space_summary

    space = load_space(args.spec, unsafe_load=args.unsafe_load)
    architecture = None
    if args.architecture:
        from bottleneck_search.space.apply import read_architecture_file

        architecture, _, _ = read_architecture_file(args.architecture, None)
    print(space_summary(space, architecture))
    return 0


def latency_command(args: argparse.Namespace) -> int:
    from bottleneck_search.latency.measure import check_settings, set_threads
    from bottleneck_search.latency.report import latency_of_architecture, latency_of_model

    settings = dict(
        batch_size=args.batch_size, runtime=args.runtime, threads=args.threads, repeats=args.repeats
    )
    check_settings(**settings)
    set_threads(args.threads, args.runtime)  # before TensorFlow runs anything
    if args.model:
        if args.architecture or args.table:
            raise BottleneckSearchError(
                "--architecture and --table belong to --space; a model file is timed as it is."
            )
        from bottleneck_search.model_io import load_model

        report = latency_of_model(load_model(args.model, unsafe_load=args.unsafe_load), **settings)
    else:
        from bottleneck_search.space.catalog import load_space

        space = load_space(args.space, unsafe_load=args.unsafe_load)
        architecture = None
        if args.architecture:
            from bottleneck_search.space.apply import read_architecture_file

            architecture, _, _ = read_architecture_file(args.architecture, None)
        progress = (lambda line: print(line, file=sys.stderr, flush=True)) if args.json else print
        report = latency_of_architecture(
            space,
            architecture,
            **settings,
            build_table=args.table,
            validation=args.validate,
            on_progress=progress,
        )
    print(report.to_json() if args.json else report.describe())
    return 0


def search_command(args: argparse.Namespace) -> int:
    from bottleneck_search.compat import keras_tuner_debug
    from bottleneck_search.results.summary import search_summary
    from bottleneck_search.rundir.files import CONFIG
    from bottleneck_search.search.jobs.search import run_search

    config = args.config
    config = config.with_default_run_dir()
    # Progress goes to the real stdout; without --verbose, what Keras Tuner prints itself ("Reloading
    # Tuner", a chief's stray line per decoded gRPC condition) does not.
    stdout = sys.stdout
    try:
        with (
            deferred_interrupt(enabled=config.distribution.chief is None) as interrupted,
            # Keras Tuner prints the traceback of every failed trial unless told otherwise; the
            # progress line already gives the reason, and --debug or --verbose bring them back.
            keras_tuner_debug(args.debug or args.verbose),
            frozen_garbage(),
            open(os.devnull, "w") as devnull,
            contextlib.redirect_stdout(stdout if config.verbose else devnull),
        ):
            result = run_search(
                config,
                on_progress=lambda line: print(line, file=stdout, flush=True),
                stop_requested=interrupted.is_set,
            )
    except KeyboardInterrupt:
        if not os.path.isfile(os.path.join(config.run_dir, CONFIG)):
            raise
        print(
            f"bottleneck-search search: interrupted; finished trials are kept in {config.run_dir}. "
            f"Resume with: {_resume_command(config.run_dir)}",
            file=sys.stderr,
        )
        return 130
    print(search_summary(result.run_dir, result.records, confirmations=result.confirmations))
    if result.completed and not config.distribution.active:
        from bottleneck_search.results.report import write_report

        report = write_report(result.run_dir)
        print(f"\nreport: {report.report_md}\nplot:   {report.pareto_png}")
    return 0


def _resume_command(run_dir: str) -> str:
    import shlex

    argv = sys.argv[1:]  # global options such as --backend stay, before "search"
    words = [word for word in argv if word != "--resume"] if "search" in argv else ["search"]
    if "--run-dir" not in words:
        words += ["--run-dir", run_dir]
    return shlex.join(["bottleneck-search", *words, "--resume"])


def compress_command(args: argparse.Namespace) -> int:
    from bottleneck_search.compress.job import compress_model

    config = args.config
    result = compress_model(config, on_progress=lambda line: print(line, flush=True))
    print(result.describe())
    return 0


def export_command(args: argparse.Namespace) -> int:
    from bottleneck_search.results.export import export_architectures, saved_model_unavailable

    folders = export_architectures(
        args.runs,
        out=args.out,
        top=args.top,
        pareto=args.pareto,
        retrain_epochs=args.retrain_epochs,
        overwrite=args.overwrite,
        onnx="onnx" in args.format,
    )
    for folder in folders:
        print(folder)
    reason = saved_model_unavailable()
    if reason is not None:
        print(f"bottleneck-search export: note: {reason}", file=sys.stderr)
    print(
        f"{len(folders)} exported; listed in {os.path.join(os.path.dirname(folders[0]), 'exports.json')}"
    )
    return 0


def confirm_command(args: argparse.Namespace) -> int:
    from bottleneck_search.results.confirmed import summarise
    from bottleneck_search.results.report import write_report
    from bottleneck_search.search.jobs.confirm import confirm_run

    with deferred_interrupt() as interrupted, frozen_garbage():
        try:
            records = confirm_run(
                args.run,
                args.top,
                args.seeds,
                on_progress=lambda line: print(line, flush=True),
                stop_requested=interrupted.is_set,
            )
        except KeyboardInterrupt:
            print(
                "bottleneck-search confirm: interrupted; finished runs are kept. Run the same "
                "command again to continue.",
                file=sys.stderr,
            )
            return 130
    print("\n".join(["", *summarise(records).sentences()]))
    report = write_report(args.run)
    print(f"\nreport: {report.report_md}\nplot:   {report.pareto_png}")
    return 0


def report_command(args: argparse.Namespace) -> int:
    from bottleneck_search.results.report import write_report

    print(write_report(args.runs).summary())
    return 0
