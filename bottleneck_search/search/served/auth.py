"""Who may call a served oracle: a shared secret on every call, and TLS when asked for.

Keras Tuner serves its oracle over plain gRPC and trusts every caller. Here every call to a
served oracle (a distributed chief's, or the loopback one a search serves to its trainer
processes) carries the run's token in its metadata; a call without the right one is refused
with `UNAUTHENTICATED` before it reaches the oracle, and the refusal is logged once per peer.

Where the token comes from (never a command-line value: other users see those in `ps`):

1. `--auth-token-file PATH` (a file only its owner can read: mode 0600);
2. the environment variable `BOTTLENECK_SEARCH_TOKEN`;
3. the run directory's `auth-token`: a chief creates it (mode 0600) when neither of the above is
   given and prints where it is; a worker that shares the chief's run directory reads it.

A trainer process gets a fresh token from its parent, in the job it reads on stdin.

TLS (`--tls-cert` and `--tls-key` on the chief, `--tls-ca` on a worker, which then verifies the
chief's certificate against that CA) encrypts the calls, the token included; without it the token
travels in the clear, so use TLS off a trusted network.
"""

from __future__ import annotations

import collections
import dataclasses
import hmac
import logging
import os
import secrets
import stat
import threading
import time

from bottleneck_search.errors import SearchConfigError
from bottleneck_search.rundir.files import AUTH_TOKEN, write_atomically

logger = logging.getLogger(__name__)

TOKEN_ENVIRONMENT = "BOTTLENECK_SEARCH_TOKEN"
TOKEN_HEADER = "bottleneck-search-token"
CALLER_HEADER = "bottleneck-search-tuner-id"  # the caller's Keras Tuner id
# gRPC reconnects with exponential backoff; capped so a worker finds a restarted chief quickly.
_CHANNEL_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 500),
    ("grpc.min_reconnect_backoff_ms", 500),
    ("grpc.max_reconnect_backoff_ms", 4000),
)


@dataclasses.dataclass(frozen=True)
class ServerSecurity:
    """What a served oracle checks: the token, and the TLS key pair it serves with (or None).

    Attributes:
        token: the secret every call must carry.
        certificate, private_key: PEM bytes of the chief's TLS certificate chain and key.
    """

    token: str
    certificate: bytes | None = None
    private_key: bytes | None = None

    def credentials(self):
        """gRPC server credentials for TLS, or None for a plain port."""
        if self.certificate is None:
            return None
        import grpc

        return grpc.ssl_server_credentials([(self.private_key, self.certificate)])


@dataclasses.dataclass(frozen=True)
class ClientSecurity:
    """What a worker sends with every call, and how it connects.

    Attributes:
        token: the run's secret.
        tuner_id: this worker's Keras Tuner id, sent so the chief knows whose report a call is.
        ca: PEM bytes of the CA that signed the chief's certificate (TLS), or None (plain).
        timeout: seconds a call waits for the chief (reconnecting meanwhile) before it fails.
    """

    token: str
    tuner_id: str
    ca: bytes | None = None
    timeout: float = 30.0

    def channel(self, address: str):
        """A gRPC channel to `address` whose calls carry the token and wait for the chief."""
        import grpc

        if self.ca is None:
            channel = grpc.insecure_channel(address, options=_CHANNEL_OPTIONS)
        else:
            credentials = grpc.ssl_channel_credentials(root_certificates=self.ca)
            channel = grpc.secure_channel(address, credentials, options=_CHANNEL_OPTIONS)
        return grpc.intercept_channel(channel, _Credentials(self))


def new_token() -> str:
    """A fresh random token (256 bits)."""
    return secrets.token_urlsafe(32)


def read_token_file(path: str) -> str:
    """The token in `path`.

    Raises:
        SearchConfigError: the file is missing, empty, or readable by other users.
    """
    try:
        mode = os.stat(path).st_mode
        with open(path, encoding="utf-8") as handle:
            token = handle.read().strip()
    except FileNotFoundError:
        raise SearchConfigError(
            f"The token file '{path}' does not exist. Received: auth_token_file={path!r}.",
            argument="auth_token_file",
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise SearchConfigError(
            f"Cannot read the token file '{path}': {error}. Received: auth_token_file={path!r}.",
            argument="auth_token_file",
        ) from None
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SearchConfigError(
            f"Token file '{path}' can be read by other users (mode {stat.S_IMODE(mode):04o}); "
            f"make it private with `chmod 600 {path}`."
        )
    if not token:
        raise SearchConfigError(
            f"Token file '{path}' is empty; it must hold the run's token (the chief's auth-token)."
        )
    return token


def given_token(token_file: str | None, run_dir: str | None) -> str | None:
    """The run's token from where chief and workers both look: `token_file`, else
    `BOTTLENECK_SEARCH_TOKEN`, else `run_dir`'s `auth-token` if it exists; None if none has one.

    Raises:
        SearchConfigError: a token file that is missing, empty or readable by other users.
    """
    if token_file is not None:
        return read_token_file(token_file)
    if os.environ.get(TOKEN_ENVIRONMENT, "").strip():
        return os.environ[TOKEN_ENVIRONMENT].strip()
    shared = os.path.join(run_dir, AUTH_TOKEN) if run_dir else None
    if shared is not None and os.path.exists(shared):
        return read_token_file(shared)
    return None


def chief_token(token_file: str | None, run_dir: str) -> tuple[str, str | None]:
    """The token a chief serves with (`given_token`), and the path of the token file it created
    when there was none (the run directory's `auth-token`, mode 0600, kept across `--resume`)."""
    token = given_token(token_file, run_dir)
    if token is not None:
        return token, None
    path = os.path.join(run_dir, AUTH_TOKEN)
    token = new_token()
    write_atomically(path, token, mode=0o600)
    return token, path


def worker_token(token_file: str | None, run_dir: str | None) -> str:
    """The token a worker sends (`given_token`: a run directory it shares with its chief counts).

    Raises:
        SearchConfigError: none of the three holds one.
    """
    token = given_token(token_file, run_dir)
    if token is None:
        raise SearchConfigError(
            "This worker has no token for its chief. Copy the file the chief printed (its run "
            f"directory's {AUTH_TOKEN}) to this machine, `chmod 600` it and give it as "
            f"auth_token_file (--auth-token-file), or set {TOKEN_ENVIRONMENT}.",
            argument="auth_token_file",
        )
    return token


def read_pem(path: str, argument: str) -> bytes:
    """The PEM file `path` given as `argument` (`tls_cert`, `tls_key`, `tls_ca`).

    Raises:
        SearchConfigError: missing, unreadable, or not PEM.
    """
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as error:
        raise SearchConfigError(
            f"Cannot read `{argument}` '{path}': {error.strerror}. Received: {argument}={path!r}.",
            argument=argument,
        ) from None
    if b"-----BEGIN " not in data:
        raise SearchConfigError(
            f"`{argument}` '{path}' is not a PEM file (no '-----BEGIN' line). Received: "
            f"{argument}={path!r}.",
            argument=argument,
        )
    return data


def server_security(
    token: str, certificate: str | None = None, private_key: str | None = None
) -> ServerSecurity:
    """`ServerSecurity` with the TLS files read and checked to belong together.

    Raises:
        SearchConfigError: a file is missing or not PEM, only one of the two is given, or the
            key is not the certificate's.
    """
    if (certificate is None) != (private_key is None):
        raise SearchConfigError(
            "TLS needs both tls_cert and tls_key (the chief's certificate and its private key). "
            f"Received: tls_cert={certificate!r}, tls_key={private_key!r}.",
            argument="tls_key" if certificate is None else "tls_cert",  # the one given
        )
    if certificate is None:
        return ServerSecurity(token)
    security = ServerSecurity(
        token, read_pem(certificate, "tls_cert"), read_pem(private_key, "tls_key")
    )
    check_key_pair(security, certificate, private_key)
    return security


def check_key_pair(security: ServerSecurity, certificate: str, private_key: str) -> None:
    """Refuses a key that is not the certificate's (gRPC finds out when it binds a TLS port: this
    binds one on a scratch loopback port, so the mistake is reported before the search starts)."""
    from concurrent import futures

    import grpc

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    try:
        server.add_secure_port("127.0.0.1:0", security.credentials())
    except RuntimeError:
        raise SearchConfigError(
            f"`tls_key` '{private_key}' does not belong to `tls_cert` '{certificate}' (gRPC "
            "cannot serve the pair); give the key the certificate was made for.",
            argument="tls_key",
        ) from None
    finally:
        server.stop(grace=None)


class TokenCheck:
    """The server side: a gRPC server interceptor that refuses every call without the token."""

    def __init__(self, token: str):
        import grpc

        class Interceptor(grpc.ServerInterceptor):
            def intercept_service(inner, continuation, details):  # noqa: N805
                metadata = dict(details.invocation_metadata or ())
                if self.admits(metadata.get(TOKEN_HEADER)):
                    return continuation(details)
                return self._refusal

        self._token = token.encode("utf-8")
        self.interceptor = Interceptor()
        self._refusal = grpc.unary_unary_rpc_method_handler(self._refuse)
        self.refused: collections.Counter[str] = collections.Counter()  # by peer host
        self._lock = threading.Lock()

    def admits(self, token: str | None) -> bool:
        """Whether `token` is the run's (compared in constant time)."""
        if not isinstance(token, str):
            return False
        return hmac.compare_digest(token.encode("utf-8", "replace"), self._token)

    def _refuse(self, request, context):
        import grpc

        host = peer_host(context.peer())
        with self._lock:
            self.refused[host] += 1
            first = self.refused[host] == 1
        if first:
            logger.warning(
                "refused a call from %s without this run's token (later ones from it are refused "
                "silently)",
                host,
            )
        context.abort(
            grpc.StatusCode.UNAUTHENTICATED,
            "this oracle needs the run's token (bottleneck-search --auth-token-file)",
        )


def peer_host(peer: str) -> str:
    """`ipv4:10.0.0.2:51234` -> `10.0.0.2` (gRPC names peers with their port)."""
    kind, _, rest = peer.partition(":")
    if kind in ("ipv4", "ipv6"):
        return rest.rsplit(":", 1)[0]
    return peer


def caller_of(context) -> str | None:
    """The Keras Tuner id a call says it comes from (our workers send it with every call)."""
    return dict(context.invocation_metadata() or ()).get(CALLER_HEADER)


def _Credentials(security: ClientSecurity):  # noqa: N802 - a class made on demand (grpc is lazy)
    """A client interceptor adding the token and tuner id to every call, waiting for a chief that
    is not there (`wait_for_ready`), and retrying a call the chief's loss cut off (`UNAVAILABLE`)
    with backoff, all within `security.timeout` seconds.

    Retrying is safe for Keras Tuner's calls: asked again, `CreateTrial` returns the trial the
    caller already holds, `UpdateTrial` sets the same values, and an `EndTrial` that did arrive
    is refused as not ongoing, which `distributed.connect_worker` lets pass.
    """
    import grpc

    metadata = ((TOKEN_HEADER, security.token), (CALLER_HEADER, security.tuner_id))

    class Details(
        collections.namedtuple(
            "Details",
            ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression"),
        ),
        grpc.ClientCallDetails,
    ):
        pass

    class Interceptor(grpc.UnaryUnaryClientInterceptor):
        def intercept_unary_unary(self, continuation, details, request):
            own = tuple(item for item in (details.metadata or ()) if item[0] not in dict(metadata))
            deadline = time.monotonic() + security.timeout
            pause = 0.5
            while True:
                remaining = max(deadline - time.monotonic(), 0.05)
                call = continuation(
                    Details(
                        details.method,
                        remaining,
                        own + metadata,
                        details.credentials,
                        True,
                        getattr(details, "compression", None),
                    ),
                    request,
                )
                if call.code() != grpc.StatusCode.UNAVAILABLE or remaining <= pause:
                    return call
                time.sleep(pause)
                pause = min(2 * pause, 4.0)

    return Interceptor()
