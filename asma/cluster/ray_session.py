"""Connecting to Ray and checking that what a run asks for can ever be scheduled.

Every command that uses Ray takes `--address`. None starts a private Ray sized to this machine
(small object store: skeleton batches are small), whatever else runs here: `ray.init()` without an
address would join a head started on this machine, or fail on the address a killed head left in
Ray's current-cluster file, so the private Ray is asked for with `address="local"`. 'auto',
'HOST:PORT' or 'ray://HOST:10001' joins a cluster, as does RAY_ADDRESS (which `ray job submit` sets
for its entrypoint). An address is checked before ray.init (its form, then a TCP connect to its
port): ray.init retries a head that is not there for minutes, and a malformed one is a traceback.
Paths in configs are made absolute before work is shipped to Ray workers, whose working directory
is their trial folder.
"""
from __future__ import annotations

import os
import socket
from pathlib import Path

from asma.errors import AsmaError

LOCAL_OBJECT_STORE_BYTES = 300 * 1024**2
CONNECT_TIMEOUT_S = 5.0
ADDRESS_FORMS = "HOST:PORT (a head's GCS address, port 6379 by default), ray://HOST:10001 or auto"
ADDRESS_HELP = ("Ray cluster to join: 'auto' (the Ray on this node, e.g. in a job), HOST:PORT (a head's GCS "
                "address) or ray://HOST:10001 (Ray Client); default: a private Ray of this command's own, "
                "even if another Ray runs on this machine")


class UnschedulableError(AsmaError):
    """A trial or worker asks for more than any node of the cluster has."""


def init_ray(address: str | None = None, num_cpus: int | None = None, num_gpus: int | None = None,
             log_to_driver: bool = True) -> None:
    """Join `address` (or RAY_ADDRESS), or start a private local Ray that no other Ray can capture.

    log_to_driver=False keeps the workers' output out of this terminal (it stays in Ray's session
    logs): grid runners report each trial's outcome and error file themselves, and Tune's teardown
    of finished trial actors otherwise prints harmless SIGTERM tracebacks.
    """
    import ray

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")
    # inside `ray job submit` Ray sets RAY_ADDRESS: join that cluster instead of starting one
    where = "--address" if address else "RAY_ADDRESS"
    address = address or os.environ.get("RAY_ADDRESS")
    if not address:
        token_auth_as_ray_defaults()
    if address:
        check_reachable(address, where)
        ray.init(address=address, log_to_driver=log_to_driver)
    else:
        ray.init(address="local", num_cpus=num_cpus or os.cpu_count(), num_gpus=num_gpus,
                 include_dashboard=False, object_store_memory=LOCAL_OBJECT_STORE_BYTES, log_to_driver=log_to_driver)


def split_address(address: str, where: str = "--address") -> tuple[str, int]:
    """(host, port) of 'HOST:PORT' or 'ray://HOST:PORT' ('[::1]:6379' too); anything else is an error
    that says which forms Ray takes (Ray's own is a ValueError traceback)."""
    if address.startswith(("http://", "https://")):
        raise AsmaError(f"{where} {address}: a dashboard or job-submission address, which ray.init does not "
                        f"join; give {ADDRESS_FORMS}")
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    host = host.strip("[]")
    if not sep or not host or "/" in host or not port.isdigit() or not 0 < int(port) < 65536:
        raise AsmaError(f"{where} {address}: not a Ray address; give {ADDRESS_FORMS}")
    return host, int(port)


def _auto_address() -> str | None:
    """The head `address='auto'` would join (RAY_ADDRESS, this node's current-cluster file, a running GCS),
    found as ray.init finds it; None where Ray's lookup is not importable (then ray.init decides)."""
    if os.environ.get("RAY_ADDRESS"):  # what ray.init joins for 'auto' too
        return os.environ["RAY_ADDRESS"]
    try:
        from ray._private.services import canonicalize_bootstrap_address
    except ImportError:  # pragma: no cover - a private helper of Ray's; its absence only skips the check
        return None
    try:
        return canonicalize_bootstrap_address("auto")
    except ConnectionError:
        raise AsmaError("--address auto: no Ray runs on this node; start one (`ray start --head`), name a "
                        "head (HOST:PORT), or leave --address out for a private Ray") from None


def check_reachable(address: str, where: str = "--address", timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Fail in seconds when nothing listens at `address`: ray.init retries a dead GCS address for
    minutes (printing time-out warnings) and a dead ray:// one for half a minute, then raises a
    traceback. A TCP connect to the port it would use says the same at once."""
    if address == "local":
        return
    if address == "auto":
        address, where = _auto_address() or "", f"{where} auto"
        if not address:
            return
    host, port = split_address(address, where)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as e:
        reason = "timed out" if isinstance(e, TimeoutError) else (e.strerror or type(e).__name__)
        gcs = f"{host}:6379" if address.startswith("ray://") else f"{host}:{port}"
        raise AsmaError(f"cannot reach a Ray head at {address} ({where}: {reason}); is it running? "
                        f"`ray status --address {gcs}`") from None


def token_auth_as_ray_defaults() -> None:
    """Token authentication on for a private local Ray, as Ray turns it on by default, but said once
    in the docs, not by a warning on every command.

    Ray (2.5x, ray/_private/authentication/authentication_token_setup.py) enables token auth for a
    new local cluster when RAY_AUTH_MODE is unset and warns "Token authentication is enabled for
    this Ray cluster"; with RAY_AUTH_MODE set it says nothing. Ray reads the mode once per process,
    so it is set through Ray's own switch, which also refreshes that. A RAY_AUTH_MODE the user set
    is left alone.
    """
    if "RAY_AUTH_MODE" in os.environ:
        return
    try:
        from ray._private.authentication.authentication_token_setup import _enable_token_auth
    except ImportError:  # a Ray without token auth: nothing to say
        return
    _enable_token_auth()


def tune_loggers() -> list:
    """Tune's CSV and JSON result loggers (progress.csv and result.json, which `asma status` reads),
    without its TensorBoard logger.

    asma's own tracker writes a trial's TensorBoard events under the tags `asma pretrain` writes
    (`loss`, `knn_top1`; Tune's were `ray/tune/loss`), so the two overlay; and without Tune's
    TensorBoard logger Tune does not print a `tensorboard --logdir` hint to its staging folder, which
    holds no events. TUNE_DISABLE_AUTO_CALLBACK_LOGGERS (ray/tune/utils/callback.py) keeps Tune from
    adding its loggers back, unless the user set it.
    """
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    return [CSVLoggerCallback(), JsonLoggerCallback()]


def check_schedulable(request: dict[str, float], what: str) -> None:
    """Fail before starting when no node could ever host `request` ({'CPU': 2, 'GPU': 1})."""
    import ray

    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    wanted = {k: v for k, v in request.items() if v > 0}
    if any(all(node.get(k, 0) >= v for k, v in wanted.items()) for node in nodes):
        return
    have = ", ".join(
        "{" + ", ".join(f"{k}: {node.get(k, 0):g}" for k in wanted) + "}" for node in nodes
    ) or "no live nodes"
    raise UnschedulableError(
        f"{what} asks for {wanted} but no node has that much (nodes: {have}); "
        "lower ray.cpus_per_worker / ray.gpus_per_worker / ray.workers, or add nodes"
    )


def absolute(path: str | Path) -> str:
    return str(Path(path).expanduser().resolve())
