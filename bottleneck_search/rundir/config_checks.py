"""The checks of a `SearchConfig` that concern one family of options: one-shot searches, trainer
processes, the evolutionary population, security, latency. `SearchConfig.check` runs them."""

from __future__ import annotations

import math

from bottleneck_search.errors import SearchConfigError
from bottleneck_search.limits import is_count, latency_settings_problem
from bottleneck_search.policy import COSTS, RUNTIMES


def check_oneshot(config) -> None:
    """Checks `supernet_epochs` and `evaluate`, and that a one-shot search uses nothing of a
    trial-by-trial search's machinery."""
    for flag, value in (("supernet_epochs", config.supernet_epochs), ("evaluate", config.evaluate)):
        if value is None:
            continue
        if config.strategy != "oneshot":
            raise SearchConfigError(
                f"--{flag.replace('_', '-')} belongs to --strategy oneshot; add it or drop the flag."
            )
        if not is_count(value):
            raise SearchConfigError(f"{flag} must be a positive integer. Received: {value!r}.")
    if config.strategy != "oneshot":
        return
    unfit = [
        flag
        for flag, used in (
            (f"--tuner {config.tuner}", config.tuner != "random"),
            ("--chief/--worker", config.distributed),
            ("--trials-per-process", config.trials_per_process is not None),
            ("--trial-timeout", config.trial_timeout is not None),
            ("--trainer-memory", config.trainer_memory is not None),
        )
        if used
    ]
    if unfit:
        raise SearchConfigError(
            f"--strategy oneshot trains one supernet in this process and chooses what to "
            f"evaluate itself (every architecture, or evolution); {', '.join(unfit)} belong to "
            "a trial-by-trial search. Drop them."
        )


def check_trainers(config) -> None:
    """Checks the trainer-process arguments and that they fit the rest of the config."""
    if config.trials_per_process is not None and not is_count(config.trials_per_process, least=0):
        raise SearchConfigError(
            "trials_per_process must be 0 (train in this process) or a positive integer. "
            f"Received: {config.trials_per_process!r}."
        )
    timeout = config.trial_timeout
    if timeout is not None and not (
        isinstance(timeout, int | float)
        and not isinstance(timeout, bool)
        and 0 < timeout < float("inf")
    ):
        raise SearchConfigError(
            f"trial_timeout must be a positive number of seconds. Received: {timeout!r}."
        )
    if config.trainer_memory is not None and not is_count(config.trainer_memory):
        raise SearchConfigError(
            f"trainer_memory must be a positive number of MiB. Received: {config.trainer_memory!r}."
        )
    limits = [
        flag
        for flag, value in (
            ("--trial-timeout", timeout),
            ("--trainer-memory", config.trainer_memory),
        )
        if value is not None
    ]
    if config.distributed and (limits or config.trials_per_process):
        raise SearchConfigError(
            f"{', '.join(limits) or '--trials-per-process'} supervise trainer processes of a "
            "search on one machine; a distributed search's workers are processes of their own "
            "(restart a worker to give its memory back). Drop the flag from --chief/--worker."
        )
    if limits and config.trials_per_process == 0:
        raise SearchConfigError(
            f"{' and '.join(limits)} need trials in trainer processes, and --trials-per-process "
            "0 trains in this process. Drop one of them."
        )


def check_population(population_size: object, max_trials: int | None) -> None:
    """Refuses an evolutionary population outside 2..`max_trials`.

    Raises:
        SearchConfigError: naming the bounds and the value.
    """
    if not (
        is_count(population_size, least=2) and (max_trials is None or population_size <= max_trials)
    ):
        raise SearchConfigError(
            f"population_size must be from 2 to max_trials ({max_trials}). "
            f"Received: {population_size!r}."
        )


def check_security(config) -> None:
    """Checks that the token and TLS flags are given to the role that uses them."""
    misplaced = [
        (flag, role)
        for flag, value, role, right in (
            (
                "--auth-token-file",
                config.auth_token_file,
                "--chief or --worker",
                config.distributed,
            ),
            ("--tls-cert", config.tls_cert, "--chief", config.chief is not None),
            ("--tls-key", config.tls_key, "--chief", config.chief is not None),
            ("--tls-ca", config.tls_ca, "--worker", config.worker is not None),
        )
        if value is not None and not right
    ]
    if misplaced:
        flag, role = misplaced[0]
        raise SearchConfigError(
            f"{flag} is for {role}; this process is "
            f"{'the chief' if config.chief else 'a worker' if config.worker else 'not distributed'}. "
            "Drop the flag or give the process its role."
        )
    for name, value in (
        ("connect_timeout", config.connect_timeout),
        ("worker_timeout", config.worker_timeout),
    ):
        if not (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and 0 < value < float("inf")
        ):
            raise SearchConfigError(
                f"{name} must be a positive number of seconds. Received: {value!r}."
            )


def check_latency(config) -> None:
    """Checks the latency flags: the cost's name, positive budgets, and settings a latency
    measurement can take (`latency.measure.check_settings`)."""
    if config.cost not in COSTS:
        raise SearchConfigError(
            f"Unknown cost '{config.cost}'; expected one of {', '.join(COSTS)}."
        )
    for name in ("target_latency", "max_latency"):
        value = getattr(config, name)
        if value is not None and not (isinstance(value, int | float) and 0 < value < math.inf):
            raise SearchConfigError(
                f"{name} must be a positive number of milliseconds. Received: {value!r}."
            )
    if config.target_latency is not None and config.cost != "latency":
        raise SearchConfigError(
            "--target-latency is the latency penalty's target; this search weighs MACs. Add "
            "--cost latency or use --target-macs."
        )
    if config.round_to is not None and not is_count(config.round_to):
        raise SearchConfigError(
            f"round_to must be a positive integer. Received: {config.round_to!r}."
        )
    if config.latency_runtime not in RUNTIMES:
        raise SearchConfigError(
            f"Unknown latency runtime '{config.latency_runtime}'; expected one of "
            f"{', '.join(RUNTIMES)}."
        )
    check_latency_settings(config)


def check_latency_settings(config) -> None:
    """Checks how a latency table measures, `latency_batch_size` and `latency_threads` (a
    search's or a compress run's), by the measurement's own rule."""
    problem = latency_settings_problem(config.latency_batch_size, config.latency_threads)
    if problem is not None:
        raise SearchConfigError(f"The latency table's {problem}")
