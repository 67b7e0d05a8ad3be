"""The launcher's supervision of the demo's processes: each runs in a process group of its own, one
that stops is restarted (and the launcher says so), and stopping ends every group whole.

A process's group holds what it started (a Celery worker's pool, gunicorn's workers): when the
main process dies, what is left of its group is killed before it is started again, and on stopping
each group is sent SIGTERM, then SIGKILL, so that nothing is left behind.
"""

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# A process that stops is restarted at once; one that keeps stopping within this long of its start
# is restarted after 1, 2, 4 ... seconds, at most MAX_BACKOFF_SECONDS.
STEADY_SECONDS = 30.0
MAX_BACKOFF_SECONDS = 30.0


@dataclass
class Child:
    """One supervised process: its name (and log file), its command and its current process."""

    name: str
    command: list[str]
    # Its own environment (a host of its own, in benchmarks.load --hosts); else the supervisor's.
    env: dict[str, str] | None = None
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    restarts: int = 0
    quick_stops: int = 0
    restart_due: float | None = field(default=None, repr=False)


class Supervisor:
    """Starts, watches, restarts and stops the demo's processes; `say` prints what it does."""

    def __init__(
        self,
        *,
        env: dict[str, str],
        cwd: Path,
        logs: Path,
        say: Callable[[str], None] = lambda line: print(line, flush=True),
    ) -> None:
        self.env, self.cwd, self.logs, self.say = env, cwd, logs, say
        self.children: list[Child] = []

    def start(self, name: str, command: list[str], env: dict[str, str] | None = None) -> Child:
        child = Child(name, command, env)
        self.children.append(child)
        self._spawn(child)
        return child

    def log_of(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def stopped(self) -> Child | None:
        """A child whose process has stopped (while starting up, a stop is an error, not a
        restart)."""
        return next((c for c in self.children if c.process and c.process.poll() is not None), None)

    def check(self, now: float | None = None) -> None:
        """Notice children that stopped, clear what is left of their group, and restart each
        when its backoff is over."""
        now = time.monotonic() if now is None else now
        for child in self.children:
            if child.restart_due is None:
                code = child.process.poll()
                if code is None:
                    continue
                self._kill_group(child, signal.SIGKILL)
                ran = now - child.started_at
                child.quick_stops = child.quick_stops + 1 if ran < STEADY_SECONDS else 0
                backoff = 2.0 ** (child.quick_stops - 2)
                delay = min(backoff, MAX_BACKOFF_SECONDS) if child.quick_stops > 1 else 0.0
                child.restart_due = now + delay
                when = f" in {delay:.0f} s" if delay else ""
                self.say(
                    f"The {child.name} process stopped ({_how(code)}); restarting it{when}. "
                    f"Log: {self.log_of(child.name)}"
                )
            if now >= child.restart_due:
                child.restart_due = None
                child.restarts += 1
                self._spawn(child)
                self.say(
                    f"Restarted the {child.name} process (pid {child.process.pid}, "
                    f"restart {child.restarts})."
                )

    def child(self, name: str) -> Child:
        return next(c for c in self.children if c.name == name)

    def kill(self, name: str, why: str) -> None:
        """Kill a child that is alive but not working; `check` then restarts it."""
        self.say(f"The {name} process {why}: killing it.")
        self._kill_group(self.child(name), signal.SIGKILL)

    def run(self, should_stop: Callable[[], bool], also: Callable[[], None] = lambda: None) -> None:
        """Watch the children until `should_stop()`; `also` runs on every turn."""
        while not should_stop():
            self.check()
            also()
            time.sleep(0.5)

    def stop(self, grace_seconds: float = 10.0) -> None:
        """SIGTERM to every group, wait for the main processes, then SIGKILL whatever is left."""
        for child in self.children:
            self._kill_group(child, signal.SIGTERM)
        deadline = time.monotonic() + grace_seconds
        for child in self.children:
            if child.process is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        for child in self.children:
            self._kill_group(child, signal.SIGKILL)
            if child.process is not None:
                child.process.wait()

    def _spawn(self, child: Child) -> None:
        with self.log_of(child.name).open("ab") as log:
            child.process = subprocess.Popen(
                child.command,
                env=self.env if child.env is None else child.env,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a group of its own: killed whole, and not by Ctrl-C
            )
        child.started_at = time.monotonic()

    @staticmethod
    def _kill_group(child: Child, sig: signal.Signals) -> None:
        if child.process is None:
            return
        # The group outlives its leader while anything it started still runs.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.process.pid, sig)


class ReadinessWatch:
    """Reads the readiness check every few seconds: says when its answer changes, and kills a
    worker that runs no heartbeat task while beat sends them (a wedged pool: see
    docs/fetching.md), so that the supervisor starts it again.

    `read` returns /readyz's JSON. Nothing failing is said, and no worker is killed, until the
    heartbeats have had `grace_seconds` to arrive."""

    def __init__(
        self,
        read: Callable[[], dict],
        supervisor: Supervisor,
        *,
        every_seconds: float = 5.0,
        grace_seconds: float = 60.0,
    ) -> None:
        self.read, self.supervisor = read, supervisor
        self.every, self.grace = every_seconds, grace_seconds
        self.started = time.monotonic()
        self.last_read = self.started - every_seconds
        self.said = "ok"

    def __call__(self) -> None:
        now = time.monotonic()
        if now - self.last_read < self.every:
            return
        self.last_read = now
        answer = self.read()
        problems = answer.get("problems", [])
        state = "; ".join(problems) if problems else "ok"
        if state != self.said and not (problems and now - self.started < self.grace):
            if problems:
                self.supervisor.say(f"Not ready: {state}")
            else:
                self.supervisor.say("Ready again: beat and the worker are working.")
            self.said = state
        checks = answer.get("checks", {})
        worker = checks.get("worker", {})
        if (
            worker.get("status") in ("stale", "missing")
            and checks.get("beat", {}).get("status") == "ok"
        ):
            child = self.supervisor.child("worker")
            if child.process.poll() is None and now - child.started_at > self.grace:
                age = worker.get("seconds_since_heartbeat")
                since = f"for {age} s" if age is not None else "since it started"
                self.supervisor.kill(
                    "worker", f"has run no heartbeat task {since}, though beat sends them"
                )


def _how(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
    return f"exit {code}"
