"""Where a search's trials run: in trainer processes on this machine (`TrainerProcesses`), or
on the workers of a distributed search (`Distribution`)."""

from __future__ import annotations

import dataclasses

from bottleneck_search.argument_validation import check_count, check_number
from bottleneck_search.errors import SearchConfigError
from bottleneck_search.parts.base import Part


@dataclasses.dataclass(frozen=True)
class TrainerProcesses(Part):
    """Trials run in trainer processes, each replaced by a fresh one after some trials: the
    search's memory stays bounded and a trial that crashes, runs out of memory or hangs is a
    failed trial, not a failed search.

    Args:
        trials_per_process: trials a trainer runs before it is replaced; 0 trains in the
            search's own process. None: `policy.TRIALS_PER_TRAINER` for a search of more trials
            than that or with a timeout or a memory limit, else 0.
        trial_timeout: seconds a trial (build and training) may take; a longer one is stopped
            and recorded as failed.
        trainer_memory: MiB; a trainer whose peak resident memory has passed this is replaced
            after its current trial.

    Raises:
        SearchConfigError: an argument out of range, or a limit with `trials_per_process=0`.

    Example:

    ```python
    TrainerProcesses(trial_timeout=600, trainer_memory=4096)
    ```
    """

    trials_per_process: int | None = None
    trial_timeout: float | None = None
    trainer_memory: int | None = None

    def __post_init__(self):
        if self.trials_per_process is not None:
            check_count(
                "trials_per_process",
                self.trials_per_process,
                least=0,
                hint="0 trains in this process.",
            )
        if self.trial_timeout is not None:
            check_number("trial_timeout", self.trial_timeout, unit="seconds")
        if self.trainer_memory is not None:
            check_count("trainer_memory", self.trainer_memory, unit="MiB")
        if self.limits and self.trials_per_process == 0:
            raise SearchConfigError(
                f"{' and '.join(self.limits)} need trials in trainer processes, and "
                "trials_per_process=0 trains in this process. Drop one of them. Received: "
                "trials_per_process=0.",
                argument="trials_per_process",
            )

    @property
    def limits(self) -> list[str]:
        """The names of the limits set (`trial_timeout`, `trainer_memory`)."""
        return [name for name in ("trial_timeout", "trainer_memory") if getattr(self, name)]

    @property
    def asked_for(self) -> list[str]:
        """The arguments that ask for trainer processes (set limits, or a positive
        `trials_per_process`)."""
        return self.limits or (["trials_per_process"] if self.trials_per_process else [])


@dataclasses.dataclass(frozen=True)
class Distribution(Part):
    """This process' role in a distributed search (Keras Tuner's chief and workers over gRPC),
    and its security.

    Args:
        chief: `HOST:PORT` to serve the search's oracle on (this process runs no trials).
        worker: `HOST:PORT` of the chief whose trials this process runs.
        worker_id: this worker's Keras Tuner id (default `worker-<host>-<pid>`).
        worker_timeout: seconds without news from a worker after which the chief re-issues its
            trial.
        connect_timeout: seconds a worker waits for its chief, at start and on every call.
        auth_token_file: chief and workers: a file (mode 0600) holding the run's token; None:
            `BOTTLENECK_SEARCH_TOKEN`, else the chief's run directory's `auth-token` (see
            `search.served.auth`).
        tls_cert, tls_key: chief: serve over TLS with this PEM certificate (chain) and key.
        tls_ca: worker: connect over TLS and verify the chief's certificate against this CA.

    Raises:
        SearchConfigError: both roles, a timeout that is not a positive number, or a security
            file given to the role that does not use it.

    Example:

    ```python
    Distribution(chief="0.0.0.0:8000", tls_cert="chief.pem", tls_key="chief.key")
    Distribution(worker="chief-host:8000", tls_ca="ca.pem")
    ```
    """

    chief: str | None = None
    worker: str | None = None
    worker_id: str | None = None
    worker_timeout: float = 60.0
    connect_timeout: float = 30.0
    auth_token_file: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_ca: str | None = None

    def __post_init__(self):
        if self.chief is not None and self.worker is not None:
            raise SearchConfigError(
                "A process is either the chief or a worker, not both. Received: "
                f"chief={self.chief!r}, worker={self.worker!r}.",
                argument="worker",
            )
        check_number("connect_timeout", self.connect_timeout, unit="seconds")
        check_number("worker_timeout", self.worker_timeout, unit="seconds")
        misplaced = [
            (name, role)
            for name, role, right in (
                ("auth_token_file", "the chief or a worker", self.active),
                ("tls_cert", "the chief", self.chief is not None),
                ("tls_key", "the chief", self.chief is not None),
                ("tls_ca", "a worker", self.worker is not None),
            )
            if getattr(self, name) is not None and not right
        ]
        if misplaced:
            name, role = misplaced[0]
            this = "the chief" if self.chief else "a worker" if self.worker else "not distributed"
            raise SearchConfigError(
                f"`{name}` is for {role}; this process is {this}. Drop it or give the process "
                f"its role (chief or worker). Received: {name}={getattr(self, name)!r}.",
                argument=name,
            )

    @property
    def active(self) -> bool:
        """Whether this process is a distributed search's chief or one of its workers."""
        return self.chief is not None or self.worker is not None
