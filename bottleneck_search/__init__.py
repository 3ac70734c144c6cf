"""bottleneck-search: where to put 1x1 bottleneck convolutions in a Keras CNN, and how wide.

The public names load lazily (PEP 562), so `import bottleneck_search` neither imports TensorFlow
nor changes any global setting; the CLI can quiet TensorFlow's logging before it loads.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "BottleneckSearchError": "bottleneck_search.errors",
    "DatasetError": "bottleneck_search.errors",
    "SearchConfigError": "bottleneck_search.errors",
    "FlopCountError": "bottleneck_search.errors",
    "ModelLoadError": "bottleneck_search.errors",
    "SearchSpaceError": "bottleneck_search.errors",
    "SearchStoppedError": "bottleneck_search.errors",
    "StorageError": "bottleneck_search.errors",
    "UnsafeModelError": "bottleneck_search.errors",
    "UnsupportedLayerError": "bottleneck_search.errors",
    "LatencyError": "bottleneck_search.errors",
    "Cost": "bottleneck_search.flops",
    "FlopReport": "bottleneck_search.flops",
    "LayerRow": "bottleneck_search.flops",
    "count_flops": "bottleneck_search.flops",
    "register_counter": "bottleneck_search.flops",
    "unregister_counter": "bottleneck_search.flops",
    "per_output_element": "bottleneck_search.flops",
    "activation_memory": "bottleneck_search.flops.memory",
    "ActivationMemory": "bottleneck_search.flops.memory",
    "Latency": "bottleneck_search.latency.measure",
    "Dataset": "bottleneck_search.data",
    "SubnetEvaluation": "bottleneck_search.supernet",
    "CompressionResult": "bottleneck_search.compress.job",
    "SearchResult": "bottleneck_search.search.jobs.search",
    "Run": "bottleneck_search.rundir.run",
    "Report": "bottleneck_search.results.report",
    "measure_latency": "bottleneck_search.latency",
    "LatencyTable": "bottleneck_search.latency",
    "build_latency_table": "bottleneck_search.latency",
    "validate_table": "bottleneck_search.latency",
    "cached_table": "bottleneck_search.latency",
    "load_model": "bottleneck_search.model_io",
    "Architecture": "bottleneck_search.space",
    "BottleneckHyperModel": "bottleneck_search.search.engine.hypermodel",
    "CostMetrics": "bottleneck_search.search.engine.callbacks",
    "CostPenalty": "bottleneck_search.search.engine.objective",
    "TrainingRecipe": "bottleneck_search.recipe",
    "Task": "bottleneck_search.training",
    "task_from_model": "bottleneck_search.training.inference",
    "train_architecture": "bottleneck_search.search.engine.training",
    "confirm_run": "bottleneck_search.search.jobs.confirm",
    "TrialObserver": "bottleneck_search.search.engine.observer",
    "TrialRecord": "bottleneck_search.rundir.trial_log",
    "TrialStatus": "bottleneck_search.rundir.trial_log",
    "load_dataset": "bottleneck_search.data",
    "make_tuner": "bottleneck_search.search.oracles.tuners",
    "EvolutionOracle": "bottleneck_search.search.oracles.evolution",
    "Supernet": "bottleneck_search.supernet",
    "CompressConfig": "bottleneck_search.compress.config",
    "compress_model": "bottleneck_search.compress.job",
    "SearchConfig": "bottleneck_search.rundir.config",
    "SpaceSource": "bottleneck_search.parts",
    "DataSource": "bottleneck_search.parts",
    "TaskOverrides": "bottleneck_search.parts",
    "TrialTraining": "bottleneck_search.parts",
    "SearchObjective": "bottleneck_search.parts",
    "Proposer": "bottleneck_search.parts",
    "TrainerProcesses": "bottleneck_search.parts",
    "Distribution": "bottleneck_search.parts",
    "LatencySettings": "bottleneck_search.parts",
    "Confirmation": "bottleneck_search.parts",
    "run_search": "bottleneck_search.search.jobs.search",
    "load_run": "bottleneck_search.rundir.run",
    "pareto_front": "bottleneck_search.results.pareto",
    "write_report": "bottleneck_search.results.report",
    "export_architectures": "bottleneck_search.results.export",
    "ResultsError": "bottleneck_search.errors",
    "ReductionOptions": "bottleneck_search.space",
    "SearchSpace": "bottleneck_search.space",
    "Site": "bottleneck_search.space",
    "apply_bottlenecks": "bottleneck_search.space",
    "architecture_from_hp": "bottleneck_search.space",
    "architecture_to_hp": "bottleneck_search.space",
    "bottleneck_conv": "bottleneck_search.space",
    "build_from_hyperparameters": "bottleneck_search.space.user_build",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'bottleneck_search' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
