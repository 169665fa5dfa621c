"""A throwaway Ray head on this machine, as a child process stopped by its own PID, and nodes joining it.

For tests and benchmarks of the job path (`ray job submit`) and of node loss without touching any
other Ray on the machine: free ports, its own short --temp-dir, its own auth token (not
~/.ray/auth_token, which other heads may rewrite), and SIGTERM to the blocking `ray start`, which
stops all its processes. `discoverable=True` puts the head where a plain `ray.init()` of a process
with `head.env` looks for one (the current-cluster file under RAY_TMPDIR), as a head started with
Ray's default --temp-dir is found. `LocalNode(head)` is a second node (`ray start --address`) with
its own temp dir, so that `kill()` can take down exactly its processes, as a lost machine would.
"""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent  # the environment's `ray` and `asma`
# On SIGTERM a Ray 2.60 node first drains (up to 30 s, until no worker lease is left: after a Ray
# Train run that is the whole 30 s); a throwaway node has nothing to hand over.
NO_DRAIN = {"RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0"}


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def processes_using(path: str) -> list[int]:
    """PIDs whose command line names `path` (Linux /proc; every process of a head names its temp dir)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if path.encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:  # the process ended while we looked
            pass
    return found


def with_descendants(roots: list[int]) -> list[int]:
    """`roots` and every process below them (Linux /proc parent links). Ray's workers rename
    themselves (`ray::...`), so their command lines no longer name the temp dir; their raylet is
    their parent."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:  # "pid (name) state ppid ...": the name may hold spaces and parentheses
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    found, todo = [], list(roots)
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.append(pid)
            todo += children.get(pid, [])
    return found


def stop_blocking_start(process: subprocess.Popen | None, temp_dir: str, remove: str, log: Path) -> list[int]:
    """SIGTERM a `ray start --block` (it stops its node's processes), wait for every process naming
    `temp_dir` to end, delete `remove` and the log; returns the PIDs still running after 30 s."""
    if process is not None and process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    deadline = time.monotonic() + 30
    while processes_using(temp_dir) and time.monotonic() < deadline:
        time.sleep(1)
    left = processes_using(temp_dir)
    shutil.rmtree(remove, ignore_errors=True)
    log.unlink(missing_ok=True)
    return left


class LocalHead:
    """`with LocalHead(num_cpus=2) as head:` a ready head; `head.env` is a client environment for it."""

    def __init__(self, num_cpus: int = 2, num_gpus: int = 0, object_store_bytes: int = 300 * 1024**2,
                 discoverable: bool = False):
        gcs, dashboard, client, agent, agent_grpc, env_agent, metrics = free_ports(7)
        # short: Ray's Unix socket paths live under it and have a ~107-byte limit
        self.root = tempfile.mkdtemp(prefix="asma", dir="/tmp")
        self.temp_dir = f"{self.root}/ray" if discoverable else self.root
        self.gcs = f"127.0.0.1:{gcs}"
        self.dashboard = f"http://127.0.0.1:{dashboard}"
        self.env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
        self.env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32),
                        PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
        if discoverable:  # Ray's default temp dir is $RAY_TMPDIR/ray
            self.env["RAY_TMPDIR"] = self.root
        self.log = Path(self.root + ".log")
        self.command = [
            str(BIN / "ray"), "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={gcs}",
            "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}", f"--ray-client-server-port={client}",
            f"--dashboard-agent-listen-port={agent}", f"--dashboard-agent-grpc-port={agent_grpc}",
            f"--runtime-env-agent-port={env_agent}", f"--metrics-export-port={metrics}",
            f"--num-cpus={num_cpus}", f"--num-gpus={num_gpus}", f"--object-store-memory={object_store_bytes}",
            f"--temp-dir={self.temp_dir}",
        ]
        self.process: subprocess.Popen | None = None

    def start(self) -> "LocalHead":
        """Start the head and wait until its job API answers."""
        with self.log.open("w") as log:
            self.process = subprocess.Popen(self.command, env={**self.env, **NO_DRAIN}, stdout=log,
                                            stderr=subprocess.STDOUT)
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __enter__(self) -> "LocalHead":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def ray(self, *args: str, timeout: float = 300, env: dict | None = None) -> subprocess.CompletedProcess:
        """Run the `ray` CLI as a client of this head."""
        return subprocess.run([str(BIN / "ray"), *args], env=env or self.env, capture_output=True,
                              text=True, timeout=timeout)

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the Ray head exited:\n{self.log.read_text()[-3000:]}")
            if self.ray("job", "list", "--address", self.dashboard, timeout=30).returncode == 0:
                return
            time.sleep(2)
        raise TimeoutError(f"no job API at {self.dashboard} after {timeout} s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> list[int]:
        """SIGTERM the head; returns the PIDs of its processes still running 30 s later (none expected)."""
        if self.process is None:
            return []
        left = stop_blocking_start(self.process, self.temp_dir, self.root, self.log)
        self.process = None
        return left

    def job_status(self, job_id: str) -> str:
        """The Jobs SDK's status (SUCCEEDED, FAILED, ...), asked as a client holding the token."""
        ask = ("import sys; from ray.job_submission import JobSubmissionClient as C; "
               "print(C(sys.argv[1]).get_job_status(sys.argv[2]).value)")
        done = subprocess.run([sys.executable, "-c", ask, self.dashboard, job_id], env=self.env,
                              capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"cannot read the status of job {job_id}: {done.stderr[-2000:]}")
        return done.stdout.strip()


class LocalNode:
    """`LocalNode(head, num_cpus=1).start()`: a second Ray node on this machine, joined to `head`."""

    def __init__(self, head: LocalHead, num_cpus: int = 1, object_store_bytes: int = 200 * 1024**2,
                 resources: str | None = None):
        manager, objects, agent, agent_grpc, env_agent, metrics = free_ports(6)
        self.head = head
        self.temp_dir = tempfile.mkdtemp(prefix="asma", dir="/tmp")
        self.log = Path(self.temp_dir + ".log")
        self.command = [
            str(BIN / "ray"), "start", f"--address={head.gcs}", "--block", "--node-ip-address=127.0.0.1",
            f"--node-manager-port={manager}", f"--object-manager-port={objects}",
            f"--dashboard-agent-listen-port={agent}", f"--dashboard-agent-grpc-port={agent_grpc}",
            f"--runtime-env-agent-port={env_agent}", f"--metrics-export-port={metrics}",
            f"--num-cpus={num_cpus}", f"--object-store-memory={object_store_bytes}", f"--temp-dir={self.temp_dir}",
            *([f"--resources={resources}"] if resources else []),
        ]
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 120) -> "LocalNode":
        """Start the node and wait until `ray start` says it joined (its raylet is registered by then)."""
        with self.log.open("w") as log:
            self.process = subprocess.Popen(self.command, env={**self.head.env, **NO_DRAIN}, stdout=log,
                                            stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while "Ray runtime started" not in self.log.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                text = self.log.read_text()[-3000:]
                self.stop()
                raise RuntimeError(f"the Ray node did not start:\n{text}")
            time.sleep(0.5)
        return self

    def pids(self) -> list[int]:
        """Every process of this node: its `ray start`, raylet, object store, agents and workers."""
        roots = [self.process.pid] if self.process is not None else []
        return with_descendants(roots + processes_using(self.temp_dir))

    def kill(self) -> list[int]:
        """SIGKILL every process of this node at once: a lost machine. Returns the PIDs it killed."""
        pids = self.pids()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.stop()
        return pids

    def stop(self) -> list[int]:
        """SIGTERM the node's `ray start`; returns the PIDs of its processes still running 30 s later."""
        left = stop_blocking_start(self.process, self.temp_dir, self.temp_dir, self.log)
        self.process = None
        return left
