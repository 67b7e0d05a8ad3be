"""The launcher's supervision (`make run`): a process that dies is restarted and reported, what it
started dies with it, and stopping leaves no process behind. Real processes, a dummy program."""

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from demo.supervisor import ReadinessWatch, Supervisor

# A main process that starts a child of its own (as a Celery worker starts its pool) and waits.
PARENT_WITH_CHILD = (
    "import subprocess, sys, time\n"
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
    "time.sleep(600)\n"
)
# One that will not stop on SIGTERM.
STUBBORN = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(600)\n"


def group_members(pgid: int) -> set[int]:
    """Live (not zombie) processes in a process group."""
    members = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z" and int(fields[2]) == pgid:
                members.add(int(entry.name))
    return members


def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


@pytest.fixture
def supervisor(tmp_path):
    said: list[str] = []
    supervisor = Supervisor(env=dict(os.environ), cwd=tmp_path, logs=tmp_path, say=said.append)
    supervisor.said = said
    yield supervisor
    supervisor.stop(grace_seconds=2)


def test_a_killed_process_is_restarted_and_reported_and_what_it_started_is_killed(supervisor):
    child = supervisor.start("worker", [sys.executable, "-c", PARENT_WITH_CHILD])
    first = child.process.pid
    wait_until(lambda: len(group_members(first)) == 2)
    (grandchild,) = group_members(first) - {first}

    os.kill(first, signal.SIGKILL)
    wait_until(lambda: child.process.poll() is not None)
    supervisor.check()

    assert child.process.pid != first
    assert child.restarts == 1
    assert supervisor.said[0].startswith("The worker process stopped (killed by SIGKILL)")
    assert str(supervisor.log_of("worker")) in supervisor.said[0]
    assert (
        supervisor.said[1] == f"Restarted the worker process (pid {child.process.pid}, restart 1)."
    )
    wait_until(lambda: grandchild not in group_members(first))
    assert child.process.poll() is None


def test_a_process_that_keeps_stopping_is_restarted_after_a_growing_pause(supervisor):
    child = supervisor.start("beat", [sys.executable, "-c", "raise SystemExit(3)"])
    log = supervisor.log_of("beat")
    now = time.monotonic()
    for restarts, pause in enumerate([0, 1, 2], start=1):
        wait_until(lambda: child.process.poll() is not None)
        supervisor.check(now)
        when = f" in {pause} s" if pause else ""
        stopped = f"The beat process stopped (exit 3); restarting it{when}. Log: {log}"
        assert stopped in supervisor.said
        now += pause
        supervisor.check(now)
        assert child.restarts == restarts


def test_stopping_ends_every_group_whole_even_a_process_that_ignores_sigterm(supervisor):
    with_child = supervisor.start("worker", [sys.executable, "-c", PARENT_WITH_CHILD])
    stubborn = supervisor.start("web", [sys.executable, "-c", STUBBORN])
    groups = [with_child.process.pid, stubborn.process.pid]
    wait_until(lambda: len(group_members(groups[0])) == 2)
    time.sleep(0.3)  # the stubborn one has set its handler

    started = time.monotonic()
    supervisor.stop(grace_seconds=1)

    assert time.monotonic() - started < 5
    assert all(not group_members(pgid) for pgid in groups)


def answer(*, beat: str, worker: str) -> dict:
    checks = {"beat": {"status": beat}, "worker": {"status": worker}}
    checks["worker"]["seconds_since_heartbeat"] = 90 if worker == "stale" else 1
    problems = [f"{name}: {state}" for name, state in (("beat", beat), ("worker", worker))]
    return {"checks": checks, "problems": [p for p in problems if not p.endswith("ok")]}


def test_the_readiness_watch_says_what_fails_and_restarts_a_worker_that_runs_no_heartbeat(
    supervisor,
):
    worker = supervisor.start("worker", [sys.executable, "-c", "import time; time.sleep(600)"])
    first = worker.process.pid
    current = {"answer": answer(beat="stale", worker="stale")}
    watch = ReadinessWatch(lambda: current["answer"], supervisor, every_seconds=0, grace_seconds=0)

    watch()  # beat is down too: the worker may be idle for want of heartbeat tasks
    assert supervisor.said == ["Not ready: beat: stale; worker: stale"]
    assert worker.process.poll() is None

    current["answer"] = answer(beat="ok", worker="stale")
    watch()
    wait_until(lambda: worker.process.poll() is not None)
    supervisor.check()

    assert supervisor.said[1:3] == [
        "Not ready: worker: stale",
        "The worker process has run no heartbeat task for 90 s, though beat sends them: "
        "killing it.",
    ]
    assert supervisor.said[3].startswith("The worker process stopped (killed by SIGKILL)")
    assert worker.process.pid != first
    current["answer"] = answer(beat="ok", worker="ok")
    watch()
    assert supervisor.said[-1] == "Ready again: beat and the worker are working."


def test_a_process_started_with_an_environment_of_its_own_keeps_it_when_restarted(
    supervisor, tmp_path
):
    """benchmarks.load --hosts: each host's processes have their own environment."""
    said = tmp_path / "said"
    script = f"import os, pathlib; pathlib.Path({str(said)!r}).write_text(os.environ['HOST'])"
    env = {**supervisor.env, "HOST": "host2"}
    child = supervisor.start("web-host2", [sys.executable, "-c", script], env)
    wait_until(lambda: child.process.poll() is not None)
    assert said.read_text() == "host2"
    said.unlink()

    supervisor.check()

    wait_until(lambda: said.exists() and said.read_text() == "host2")
    assert "HOST" not in supervisor.env
