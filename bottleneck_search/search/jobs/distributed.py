"""Distributed search on Keras Tuner's own chief/worker engine, plus what it lacks: only callers
with the run's token get in (`auth`), results are checked (`oracle_server`), workers started with
other arguments are refused, an unreachable chief is waited for in bounded time, workers that die
mid-trial are recovered from (`liveness`), and a chief killed and resumed finds its workers'
trials again.

Keras Tuner's protocol: every process sets `KERASTUNER_TUNER_ID` (`chief` for the chief),
`KERASTUNER_ORACLE_IP` and `KERASTUNER_ORACLE_PORT`; the chief serves the oracle over gRPC and
workers ask it for trials.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Iterator

import keras_tuner as kt

from bottleneck_search.compat import (
    connect_oracle_client,
    oracle_service_stub,
    quiet_condition_protos,
)
from bottleneck_search.errors import SearchConfigError, SearchStoppedError
from bottleneck_search.rundir.config import SearchConfig
from bottleneck_search.rundir.files import ISSUED, REFUSED, read_run_config
from bottleneck_search.search.engine.hypermodel import CODE_HP, CONFIG_HP
from bottleneck_search.search.jobs.context import JobContext
from bottleneck_search.search.served.auth import (
    ClientSecurity,
    chief_token,
    read_pem,
    read_token_file,
    server_security,
    worker_token,
)
from bottleneck_search.search.served.oracle_events import OracleStandIn
from bottleneck_search.search.served.oracle_server import (
    CheckedServicer,
    serve_oracle,
    serve_until_done,
    throttled_saves,
)
from bottleneck_search.space.user_code import check_unchanged, defining_file

logger = logging.getLogger(__name__)

_ENVIRONMENT = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")


def parse_address(text: str) -> tuple[str, int]:
    """`"HOST:PORT"` -> `(host, port)`, with errors that say what was wrong."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise SearchConfigError(
            f"Expected an address HOST:PORT such as 127.0.0.1:8000. Received: '{text}'."
        )
    return host, int(port)


@contextlib.contextmanager
def distribution_environment(config: SearchConfig) -> Iterator[None]:
    """Keras Tuner's distribution variables for the chief or worker `config` describes, for the
    duration of the block; then the variables as they were."""
    previous = {name: os.environ.get(name) for name in _ENVIRONMENT}
    try:
        if config.distribution.chief is not None:
            set_environment("chief", config.distribution.chief)
        elif config.distribution.worker is not None:
            set_environment("worker", config.distribution.worker, config.distribution.worker_id)
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def worker_tuner_id(worker_id: str | None) -> str:
    """A worker's Keras Tuner id: `worker_id`, or `worker-<host>-<pid>`."""
    tuner_id = worker_id or f"worker-{socket.gethostname()}-{os.getpid()}"
    if "chief" in tuner_id:
        raise SearchConfigError(
            f"`worker_id` (--worker-id) must not contain 'chief' (Keras Tuner reserves it). Received: worker_id='{tuner_id}'."
        )
    return tuner_id


def set_environment(role: str, address: str, worker_id: str | None = None) -> str:
    """Sets Keras Tuner's distribution variables for this process; returns the tuner id."""
    host, port = parse_address(address)
    tuner_id = "chief" if role == "chief" else worker_tuner_id(worker_id)
    os.environ["KERASTUNER_TUNER_ID"] = tuner_id
    os.environ["KERASTUNER_ORACLE_IP"] = host
    os.environ["KERASTUNER_ORACLE_PORT"] = str(port)
    return tuner_id


def worker_security(config: SearchConfig) -> ClientSecurity:
    """What this worker sends with its calls: the run's token, its tuner id, the chief's CA.

    Raises:
        SearchConfigError: no token found, or a token or CA file that cannot be used.
    """
    return ClientSecurity(
        token=worker_token(config.distribution.auth_token_file, config.run_dir),
        tuner_id=worker_tuner_id(config.distribution.worker_id),
        ca=read_pem(config.distribution.tls_ca, "tls_ca") if config.distribution.tls_ca else None,
        timeout=config.distribution.connect_timeout,
    )


def chief_fixed_values(address: str, security: ClientSecurity) -> dict:
    """Connects to the chief within `security.timeout` seconds and returns the values its
    space holds: its config hash (`CONFIG_HP`), and a `--hypermodel` file's sha256
    (`CODE_HP`).

    Raises:
        SearchConfigError: the chief cannot be reached in time, or refuses this worker's token.
    """
    import grpc

    host, port = parse_address(address)
    channel = security.channel(f"{host}:{port}")
    timeout = security.timeout
    try:
        stub, request = oracle_service_stub(channel)
        response = stub.GetSpace(request)
    except grpc.RpcError as error:
        if error.code() == grpc.StatusCode.UNAUTHENTICATED:
            raise SearchConfigError(
                f"The chief at {host}:{port} refused this worker's token. Give the worker the "
                "token of that chief's run (the auth-token file it printed) as auth_token_file "
                "(--auth-token-file)."
            ) from None
        tls = " or it serves TLS (give --tls-ca)" if security.ca is None else ""
        raise SearchConfigError(
            f"No chief answered at {host}:{port} within {timeout:.0f} s ({error.code().name}). "
            f"Check that 'bottleneck-search search --chief {host}:{port} ...' is running, that the "
            f"address and port are right, that no firewall blocks the port{tls}."
        ) from None
    finally:
        channel.close()
    return kt.HyperParameters.from_proto(response.hyperparameters).values


def connect_worker(tuner: kt.Tuner, address: str, security: ClientSecurity) -> None:
    """Sends the calls of a worker's tuner (its `OracleClient`) with `security`, and gives the
    tuner a view of its client that lets the worker carry on when the chief refuses one of its
    reports (a trial the chief gave to another worker after a restart, say): the refusal is
    logged and the worker asks for its next trial (`RefusalTolerantClient`)."""
    connect_oracle_client(tuner.oracle, security.channel(address))
    quiet_condition_protos()
    tuner.oracle = RefusalTolerantClient(tuner.oracle)


class RefusalTolerantClient(OracleStandIn):
    """A worker's `OracleClient` (`oracle`) whose `end_trial` logs the chief's refusal of a
    report instead of raising it; every other attribute is the client's own (the client is not
    changed)."""

    def end_trial(self, trial):
        import grpc

        try:
            return self.oracle.end_trial(trial)
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.FAILED_PRECONDITION:
                raise
            logger.warning(
                "the chief refused the end of trial %s: %s", trial.trial_id, error.details()
            )
            return None


def lost_chief(error: BaseException, config: SearchConfig) -> SearchStoppedError | None:
    """The error to stop a worker with when `error` is a call to its chief that failed (the chief
    gone for longer than `--connect-timeout`, or an answer the worker cannot go on from), else
    None."""
    import grpc

    if not isinstance(error, grpc.RpcError):
        return None
    code = error.code()
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return SearchStoppedError(
            f"Lost the chief at {config.distribution.worker}: no answer within connect_timeout="
            f"{config.distribution.connect_timeout:g} s ({code.name}). Restart the chief with resume=True (--resume; its "
            "trials are kept), then this worker."
        )
    return SearchStoppedError(
        f"The chief at {config.distribution.worker} answered {code.name}: {error.details()}. See the chief's "
        "log; restart this worker once it is fixed."
    )


def check_chief(config: SearchConfig) -> None:
    """Checks a chief's token file and TLS files before its run directory is touched.

    Raises:
        SearchConfigError: naming the file and what is wrong with it.
    """
    if config.distribution.auth_token_file is not None:
        read_token_file(config.distribution.auth_token_file)
    server_security("unchecked", config.distribution.tls_cert, config.distribution.tls_key)


def serve_chief(job: JobContext, tuner: kt.Tuner, news) -> None:
    """Serves the search's oracle to its workers on `config.distribution.chief` until the search is over:
    only calls with the run's token, over TLS when the chief has a key pair, every report
    checked (`oracle_server`), the state saved at most once a second.

    Raises:
        SearchConfigError: a token or TLS file that cannot be used, or an address that cannot
            be served.
    """
    config, emit = job.config, job.emit
    token, created = chief_token(config.distribution.auth_token_file, config.run_dir)
    security = server_security(token, config.distribution.tls_cert, config.distribution.tls_key)
    oracle = tuner.oracle
    oracle.verbose = 1 if config.verbose else 0  # Keras Tuner's own lines, and their cost
    # The tuner's own file is what tells Keras Tuner, on --resume, to reload the oracle's state
    # (its chief never writes it: `Tuner.search` saves nothing before serving).
    tuner.save()
    servicer = CheckedServicer(
        oracle,
        tuner.hypermodel.architecture_from_hp,
        refusals=os.path.join(config.run_dir, REFUSED),
        issued=os.path.join(config.run_dir, ISSUED),
        on_refused=news.refused,
    )
    where = (
        f"the token in {created} (made now, mode 0600; workers sharing this run directory read "
        "it, others take a copy with --auth-token-file)"
        if created
        else "this chief's token (--auth-token-file or BOTTLENECK_SEARCH_TOKEN)"
    )
    tls = "TLS" if security.certificate else "plain gRPC: use --tls-cert off a trusted network"
    with contextlib.ExitStack() as stack:
        try:
            address = stack.enter_context(
                serve_oracle(servicer, security, config.distribution.chief)
            )
        except OSError as error:
            raise SearchConfigError(
                f"Cannot serve --chief {config.distribution.chief}: {error}. Is the port in use, or the host "
                "not this machine's?"
            ) from None
        emit(f"chief: serving the search on {address} ({tls}); workers need {where}")
        stack.enter_context(throttled_saves(oracle))
        serve_until_done(servicer)


def check_worker(config: SearchConfig) -> dict | None:
    """Checks, before a worker touches the oracle, that it runs its chief's search; returns the
    config saved in its run directory, if there is one (a worker may share the chief's run
    directory on a shared file system, or have its own).

    Raises:
        SearchConfigError: the run directory or the chief holds another search, or no chief
            answers within `config.distribution.connect_timeout` seconds.
    """
    digest = config.digest()
    saved = read_run_config(config.run_dir)
    if saved is not None and saved.get("config_hash") != digest:
        raise SearchConfigError(
            f"Run directory '{config.run_dir}' holds another search (config hash "
            f"{saved.get('config_hash')}, this worker's is {digest}); give this worker the chief's "
            "arguments or another run_dir (--run-dir)."
        )
    served = chief_fixed_values(config.distribution.worker, worker_security(config))
    remote = served.get(CONFIG_HP)
    if remote != digest:
        raise SearchConfigError(
            f"This worker's search arguments differ from the chief's at {config.distribution.worker} (config hash "
            f"{digest} here, {remote or 'none'} there). Start every worker with the chief's arguments: "
            "--space/--model/--hypermodel, --dataset, --tuner, --max-trials, --epochs, --penalty, --target-macs, "
            "--max-macs, --seed, --batch-size."
        )
    if config.space.hypermodel is not None:
        where = f"the chief's at {config.distribution.worker}"
        check_unchanged(defining_file(config.space.hypermodel), served.get(CODE_HP, ""), where)
    return saved
