"""Without --address a command starts a private Ray, even beside a running head or a stale address file.

The head is a real one (`ray start --head --block` on loopback, free ports, stopped by its PID),
started where a plain `ray.init()` of the commands' environment finds it: its current-cluster file
lies under that environment's RAY_TMPDIR, as a head with Ray's default temp dir is found by every
process on the machine.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from local_head import BIN, LocalHead, free_ports  # tests/local_head.py
from test_ablate_end_to_end import tiny_study  # tests/ is on sys.path under pytest


def test_no_address_asks_ray_for_a_new_local_instance(monkeypatch):
    """`address="local"` is what makes ray.init start a Ray instead of joining one it finds."""
    import ray

    calls = []
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kw: calls.append(kw))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    import asma.cluster.ray_session
    from asma.cluster.ray_session import init_ray

    monkeypatch.setattr(asma.cluster.ray_session, "check_reachable", lambda address, where: None)  # no head listens here

    init_ray(None, num_cpus=2)
    init_ray("127.0.0.1:6379")
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.1:6379")  # what `ray job submit` sets for its entrypoint
    init_ray(None)
    assert [c["address"] for c in calls] == ["local", "127.0.0.1:6379", "10.0.0.1:6379"]
    assert calls[0]["num_cpus"] == 2


def test_a_private_ray_turns_token_auth_on_without_ray_s_warning(monkeypatch):
    """Ray enables token auth for a new local cluster and, with RAY_AUTH_MODE unset, warns so on
    every command (ray/_private/authentication/authentication_token_setup.py); asma sets the mode
    Ray would, before ray.init, so Ray says nothing. A mode the user set is theirs; joining a
    cluster sets nothing."""
    import ray
    from ray._private.authentication import authentication_token_setup as auth

    enabled, warned = [], []
    monkeypatch.setattr(auth, "_warn_token_auth_enabled", lambda: warned.append(True))
    monkeypatch.setattr(auth, "_enable_token_auth", lambda: enabled.append(os.environ.setdefault("RAY_AUTH_MODE", "token")))
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kw: auth.enable_token_auth_by_default() if kw["address"] == "local" else None)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    import asma.cluster.ray_session
    from asma.cluster.ray_session import init_ray

    monkeypatch.setattr(asma.cluster.ray_session, "check_reachable", lambda address, where: None)  # no head listens here
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    init_ray("127.0.0.1:6379")
    assert "RAY_AUTH_MODE" not in os.environ and not enabled
    init_ray(None)
    assert enabled == ["token"] and not warned
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    init_ray(None)
    assert enabled == ["token"] and os.environ["RAY_AUTH_MODE"] == "disabled"


@pytest.fixture(scope="module")
def head():
    head = LocalHead(num_cpus=1, discoverable=True).start()
    try:
        yield head
    finally:
        left = head.stop()
    assert not left, f"processes of the stopped head still run: {left}"


def drivers_seen_by(head: LocalHead) -> list[str]:
    """Every driver that ever connected to the head (Ray's job table; `ray list jobs` asks the head)."""
    listed = head.ray("list", "jobs", "--address", head.dashboard, "--format", "json", timeout=120)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    if listed.stdout.startswith("No resource"):  # what the CLI prints for an empty table
        return []
    return [job["job_id"] for job in json.loads(listed.stdout)]


@pytest.mark.slow
def test_a_study_without_address_runs_on_its_own_ray_beside_a_head(head, tmp_path):
    out = tmp_path / "out"
    done = subprocess.run([str(BIN / "asma"), "ablate", str(tiny_study(tmp_path)), "--out", str(out),
                           "--seeds", "1"], env=head.env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert len(list((out / "ablations" / "tiny" / "runs").glob("*.json"))) == 2
    assert drivers_seen_by(head) == [], "the study ran on the head, not on a Ray of its own"
    # the check can fail: a plain ray.init() in the same environment does join the head
    plain_init = "import ray; ray.init(); print(ray.get_runtime_context().gcs_address)"
    probe = subprocess.run([sys.executable, "-c", plain_init], env=head.env, capture_output=True, text=True, timeout=120)
    joined = probe.stdout.strip().splitlines()[-1]  # Ray writes 127.0.0.1 as this machine's address
    assert joined.rsplit(":", 1)[1] == head.gcs.rsplit(":", 1)[1], probe.stdout + probe.stderr
    assert len(drivers_seen_by(head)) == 1


@pytest.mark.slow
def test_a_stale_current_cluster_file_is_ignored(tmp_path):
    """A killed head leaves RAY_TMPDIR/ray/ray_current_cluster naming an address nothing listens on."""
    root = tempfile.mkdtemp(prefix="asma", dir="/tmp")  # short: Ray's socket paths go under it
    try:
        (Path(root) / "ray").mkdir()
        (Path(root) / "ray" / "ray_current_cluster").write_text(f"127.0.0.1:{free_ports(1)[0]}")
        env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
        env["RAY_TMPDIR"] = root
        done = subprocess.run([str(BIN / "asma"), "cluster", "check", "smoke"], env=env, capture_output=True,
                              text=True, timeout=180)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert f"{os.cpu_count()}" in done.stdout and "ok" in done.stdout
    finally:
        shutil.rmtree(root, ignore_errors=True)


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on: bound, then released."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("scheme", ["", "ray://"])
def test_a_head_that_is_not_there_is_said_in_seconds(scheme, monkeypatch):
    """ray.init retried 127.0.0.1:1 for more than 2 minutes, ray:// for 34 s, then a traceback; the
    check before it names the address and how to look at the head, at once."""
    import time

    import ray

    from asma.errors import AsmaError
    from asma.cluster.ray_session import init_ray

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kw: pytest.fail("ray.init was reached"))
    address = f"{scheme}127.0.0.1:{closed_port()}"
    started = time.perf_counter()
    with pytest.raises(AsmaError) as e:
        init_ray(address)
    assert time.perf_counter() - started < 5
    assert str(e.value).startswith(f"cannot reach a Ray head at {address} (--address: ")
    assert "`ray status --address 127.0.0.1:" in str(e.value)


def test_an_address_ray_cannot_read_names_the_forms_it_takes(monkeypatch):
    """`--address bogus` was Ray's `ValueError: Invalid address format` traceback; a dashboard URL, too."""
    from asma.errors import AsmaError
    from asma.cluster.ray_session import split_address

    for address in ("bogus", "ray://host", "127.0.0.1:0", "host:port"):
        with pytest.raises(AsmaError, match=f"--address {address}: not a Ray address; give HOST:PORT"):
            split_address(address)
    with pytest.raises(AsmaError, match="a dashboard or job-submission address"):
        split_address("http://127.0.0.1:8265")
    assert split_address("ray://10.0.0.2:10001") == ("10.0.0.2", 10001)
    assert split_address("[::1]:6379") == ("::1", 6379)


def test_a_listening_port_passes_and_ray_address_is_checked_too(monkeypatch):
    """A port something listens on is left to ray.init; RAY_ADDRESS (set by `ray job submit`) is named."""
    import socket

    from asma.errors import AsmaError
    from asma.cluster.ray_session import check_reachable

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        check_reachable(f"127.0.0.1:{server.getsockname()[1]}")
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{closed_port()}")
    with pytest.raises(AsmaError, match=r"\(--address auto: Connection refused\)"):
        check_reachable("auto")


def test_the_cli_ends_a_wrong_address_in_one_line(capsys, monkeypatch, tmp_path):
    """`asma pretrain --address 127.0.0.1:PORT`: exit 2 and one line, no traceback, in seconds."""
    import time

    from asma.cli.main import main

    import ray

    monkeypatch.setenv("COLUMNS", "1000")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(ray, "init", lambda **kw: pytest.fail("ray.init was reached"))  # it would retry for minutes
    # the suite's shared Ray may already be up in this process; a fresh `asma` process has none
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    started = time.perf_counter()
    code = main(["pretrain", "smoke", "--address", f"127.0.0.1:{closed_port()}", "--set", f"out_dir={tmp_path}"])
    err = capsys.readouterr().err
    assert code == 2 and time.perf_counter() - started < 10
    assert len(err.strip().splitlines()) == 1 and "cannot reach a Ray head at 127.0.0.1:" in err, err
