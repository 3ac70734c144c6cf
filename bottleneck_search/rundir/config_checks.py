"""The checks of a `SearchConfig` that concern one family of options: one-shot searches, trainer
processes, the evolutionary population, security, latency. `SearchConfig.check` runs them."""

from __future__ import annotations

from bottleneck_search.argument_validation import check_choice, check_count, check_number
from bottleneck_search.errors import SearchConfigError
from bottleneck_search.limits import check_latency_settings
from bottleneck_search.policy import COSTS, RUNTIMES


def check_oneshot(config) -> None:
    """Checks `supernet_epochs` and `evaluate`, and that a one-shot search uses nothing of a
    trial-by-trial search's machinery."""
    for name, value in (("supernet_epochs", config.supernet_epochs), ("evaluate", config.evaluate)):
        if value is None:
            continue
        if config.strategy != "oneshot":
            raise SearchConfigError(
                f"`{name}` belongs to strategy='oneshot'; set that strategy or leave {name} "
                f"unset. Received: {name}={value!r}, strategy={config.strategy!r}.",
                argument=name,
            )
        check_count(name, value)
    if config.strategy != "oneshot":
        return
    unfit = [
        name
        for name, used in (
            ("tuner", config.tuner != "random"),
            ("chief", config.chief is not None),
            ("worker", config.worker is not None),
            ("trials_per_process", config.trials_per_process is not None),
            ("trial_timeout", config.trial_timeout is not None),
            ("trainer_memory", config.trainer_memory is not None),
        )
        if used
    ]
    if unfit:
        received = ", ".join(f"{name}={getattr(config, name)!r}" for name in unfit)
        raise SearchConfigError(
            "strategy='oneshot' trains one supernet in this process and chooses what to "
            f"evaluate itself (every architecture, or evolution); {', '.join(unfit)} "
            f"{'belong' if len(unfit) > 1 else 'belongs'} to a trial-by-trial search. Leave them at their defaults. Received: {received}.",
            argument=unfit[0],
        )


def check_trainers(config) -> None:
    """Checks the trainer-process arguments and that they fit the rest of the config."""
    if config.trials_per_process is not None:
        check_count(
            "trials_per_process",
            config.trials_per_process,
            least=0,
            hint="0 trains in this process.",
        )
    if config.trial_timeout is not None:
        check_number("trial_timeout", config.trial_timeout, unit="seconds")
    if config.trainer_memory is not None:
        check_count("trainer_memory", config.trainer_memory, unit="MiB")
    limits = [
        name for name in ("trial_timeout", "trainer_memory") if getattr(config, name) is not None
    ]
    supervised = limits or (["trials_per_process"] if config.trials_per_process else [])
    if config.distributed and supervised:
        received = ", ".join(f"{name}={getattr(config, name)!r}" for name in supervised)
        raise SearchConfigError(
            f"{', '.join(supervised)} supervise trainer processes of a search on one machine; a "
            "distributed search's workers are processes of their own (restart a worker to give "
            f"its memory back). Leave them unset on the chief and workers. Received: {received}.",
            argument=supervised[0],
        )
    if limits and config.trials_per_process == 0:
        raise SearchConfigError(
            f"{' and '.join(limits)} need trials in trainer processes, and trials_per_process=0 "
            "trains in this process. Drop one of them. Received: trials_per_process=0.",
            argument="trials_per_process",
        )


def check_population(population_size: object, max_trials: int | None) -> None:
    """Refuses an evolutionary population outside 2..`max_trials`.

    Raises:
        SearchConfigError: naming the bounds and the value.
    """
    check_count(
        "population_size",
        population_size,
        least=2,
        most=max_trials,
        hint=f"A population is at most max_trials ({max_trials})." if max_trials else "",
    )


def check_security(config) -> None:
    """Checks that the token and TLS flags are given to the role that uses them."""
    misplaced = [
        (name, role)
        for name, role, right in (
            ("auth_token_file", "the chief or a worker", config.distributed),
            ("tls_cert", "the chief", config.chief is not None),
            ("tls_key", "the chief", config.chief is not None),
            ("tls_ca", "a worker", config.worker is not None),
        )
        if getattr(config, name) is not None and not right
    ]
    if misplaced:
        name, role = misplaced[0]
        this = "the chief" if config.chief else "a worker" if config.worker else "not distributed"
        raise SearchConfigError(
            f"`{name}` is for {role}; this process is {this}. Drop it or give the process its "
            f"role (chief or worker). Received: {name}={getattr(config, name)!r}.",
            argument=name,
        )
    check_number("connect_timeout", config.connect_timeout, unit="seconds")
    check_number("worker_timeout", config.worker_timeout, unit="seconds")


def check_latency(config) -> None:
    """Checks the latency flags: the cost's name, positive budgets, and settings a latency
    measurement can take (`limits.check_latency_settings`)."""
    check_choice("cost", config.cost, COSTS)
    for name in ("target_latency", "max_latency"):
        value = getattr(config, name)
        if value is not None:
            check_number(name, value, unit="milliseconds")
    if config.target_latency is not None and config.cost != "latency":
        raise SearchConfigError(
            "`target_latency` is the latency penalty's target; this search weighs MACs. Set "
            "cost='latency' or give target_macs instead. Received: "
            f"target_latency={config.target_latency!r}, cost={config.cost!r}.",
            argument="target_latency",
        )
    if config.round_to is not None:
        check_count("round_to", config.round_to)
    check_choice("latency_runtime", config.latency_runtime, RUNTIMES)
    check_latency_settings(
        config.latency_batch_size,
        config.latency_threads,
        names=("latency_batch_size", "latency_threads", "repeats"),
    )
