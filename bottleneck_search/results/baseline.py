"""What a run's results are compared with: the space's architecture without reductions (a
compress run's original model), or for a search of your `build(hp)` its model with the default
hyperparameters; a trial's model built again; and where the MACs went, layer by layer."""

from __future__ import annotations

import keras

from bottleneck_search.flops import count_flops
from bottleneck_search.rundir.run import Run
from bottleneck_search.rundir.trial_log import TrialRecord
from bottleneck_search.space.search_space import SearchSpace
from bottleneck_search.space.user_build import UserBuild


def marked_trials(run: Run, space: SearchSpace | UserBuild) -> dict[str, TrialRecord]:
    """The run's trials of its baselines by label (`no bottleneck`, `reference`, or `your
    defaults`), those it trained."""
    if isinstance(space, UserBuild):
        defaults = space.default_values
        found = next((r for r in run.completed if r.hyperparameters == defaults), None)
        return {"your defaults": found} if found is not None else {}
    named = {"no bottleneck": space.no_bottleneck()}
    if space.reference is not None:
        named["reference"] = space.reference
    marked = {}
    for label, architecture in named.items():
        widths = architecture.widths
        for record in run.completed:
            if record.architecture == widths:
                marked[label] = record
                break
    return marked


def baseline_name(space: SearchSpace | UserBuild) -> str:
    """How reports name the baseline of `space`."""
    return "your defaults" if isinstance(space, UserBuild) else "no bottleneck"


def built_model(
    space: SearchSpace | UserBuild, widths: dict, hyperparameters: dict | None
) -> keras.Model:
    """The model of a trial's `widths` (of your build's model: its `hyperparameters`)."""
    if isinstance(space, UserBuild):
        return space.build_model(hyperparameters)
    return space.build(space.validate(widths))


def baseline_model(space: SearchSpace | UserBuild) -> keras.Model:
    """The model a run's results are compared with: the space's architecture without
    reductions, or your build's model with its default hyperparameters."""
    if isinstance(space, UserBuild):
        return space.build_model(space.default_values)
    return space.build(space.no_bottleneck())


def baseline_macs(space: SearchSpace | UserBuild) -> int:
    """The MACs of `baseline_model(space)`, known without building it."""
    return space.default.macs if isinstance(space, UserBuild) else space.no_bottleneck().macs


def layer_comparison(space: SearchSpace | UserBuild, best: TrialRecord) -> list[str]:
    """Per-layer MACs of the best architecture next to the no-bottleneck one (your build's
    defaults), joined by layer name."""
    keras.backend.clear_session()
    base = {row.name: row for row in count_flops(baseline_model(space)).rows}
    keras.backend.clear_session()
    ours = count_flops(built_model(space, best.architecture, best.hyperparameters)).rows
    lines = [
        f"| layer | MACs, {baseline_name(space)} | MACs, best | change |",
        "| --- | ---: | ---: | ---: |",
    ]
    names = list(base)
    for row in ours:
        if row.name not in base:
            names.insert(
                names.index(row.name.removesuffix("_reduce"))
                if row.name.removesuffix("_reduce") in names
                else len(names),
                row.name,
            )
    by_name = {row.name: row for row in ours}
    for name in names:
        before = base[name].macs if name in base else 0
        after = by_name[name].macs if name in by_name else 0
        if before == after == 0:
            continue
        lines.append(f"| {name} | {before:,} | {after:,} | {after - before:+,} |")
    total_before = sum(r.macs for r in base.values())
    total_after = sum(r.macs for r in ours)
    lines.append(
        f"| **total** | **{total_before:,}** | **{total_after:,}** | **{total_after - total_before:+,}** |"
    )
    return lines
