"""The embedded file broker (`filesystem://`): a reader never takes a message before it is whole.

kombu's own file transport let a polling worker read a message file still empty and die on it
(celery/kombu#1551); lcr.broker writes each file under another name and renames it into place.
"""

import multiprocessing
import os

import pytest
from kombu import Connection

import lcr.broker


def _connection(folder) -> Connection:
    (folder / "control").mkdir(parents=True, exist_ok=True)
    return Connection(
        "filesystem://",
        transport_options={
            "data_folder_in": str(folder),
            "data_folder_out": str(folder),
            "control_folder": str(folder / "control"),
            "polling_interval": 0.001,
        },
    )


def test_filesystem_urls_use_the_project_transport(tmp_path):
    with _connection(tmp_path) as connection:
        assert connection.transport_cls == "filesystem"
        assert isinstance(connection.transport, lcr.broker.Transport)


def _write(folder, writer: int, count: int, errors) -> None:
    try:
        with _connection(folder) as connection:
            queue = connection.SimpleQueue("fetches")
            for number in range(count):
                queue.put({"writer": writer, "number": number})
            queue.close()
    except Exception as error:  # what broke is the finding
        errors.put(repr(error))


def _read(folder, writers_done, received, errors) -> None:
    taken = []
    with _connection(folder) as connection:
        queue = connection.SimpleQueue("fetches")
        while True:
            try:
                message = queue.get(timeout=0.2)
            except queue.Empty:
                if writers_done.is_set():
                    break
                continue
            except Exception as error:  # what broke is the finding
                errors.put(repr(error))
                continue
            taken.append((message.payload["writer"], message.payload["number"]))
            message.ack()
        queue.close()
    received.put(taken)


@pytest.mark.integration
def test_processes_writing_and_reading_at_once_lose_and_break_nothing(tmp_path):
    """Web processes send while workers poll: every message arrives once, none is read unmade."""
    writers, readers, each = 3, 3, 300
    processes = multiprocessing.get_context("spawn")
    writers_done, received, errors = processes.Event(), processes.Queue(), processes.Queue()
    reading = [
        processes.Process(target=_read, args=(tmp_path, writers_done, received, errors))
        for _ in range(readers)
    ]
    writing = [
        processes.Process(target=_write, args=(tmp_path, writer, each, errors))
        for writer in range(writers)
    ]
    for process in reading + writing:
        process.start()
    for process in writing:
        process.join(timeout=60)
    writers_done.set()
    taken = [item for _ in reading for item in received.get(timeout=60)]
    for process in reading:
        process.join(timeout=10)

    failures = []
    while not errors.empty():
        failures.append(errors.get())
    assert failures == []
    assert sorted(taken) == [(w, n) for w in range(writers) for n in range(each)]
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".partial")]


# A worker of its own on the file broker, with one task that sleeps and leaves a file behind.
WORKER_APP = """
import os, time
from celery import Celery
from lcr.broker import use_for_filesystem_urls

use_for_filesystem_urls()
FOLDER = os.environ["BROKER_TEST_FOLDER"]
app = Celery("broker-test", broker="filesystem://localhost/")
app.conf.broker_transport_options = {
    "data_folder_in": FOLDER + "/queue", "data_folder_out": FOLDER + "/queue",
    "control_folder": FOLDER + "/queue/control", "polling_interval": 0.1,
}
app.conf.task_acks_late = True
app.conf.task_reject_on_worker_lost = True
app.conf.worker_prefetch_multiplier = 1

@app.task
def work(number):
    time.sleep(2)
    open(f"{FOLDER}/done-{number}", "w").close()
"""


@pytest.mark.integration
def test_a_worker_whose_pool_processes_are_killed_busy_and_idle_goes_on_taking_tasks(
    tmp_path, monkeypatch
):
    """The wedge of kombu's blocking loop: an idle pool process killed while it held the pool's
    shared lock left every new one waiting for ever (none of three tasks ran in 45 s). Polled
    from the worker's event loop, each pool process has its own pipe: all three are done."""
    import signal
    import subprocess
    import sys
    import time

    from tests.fetch_helpers import child_pids

    (tmp_path / "queue" / "control").mkdir(parents=True)
    (tmp_path / "broker_test_app.py").write_text(WORKER_APP)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {
        **os.environ,
        "PYTHONPATH": f"{tmp_path}{os.pathsep}{root}",
        "BROKER_TEST_FOLDER": str(tmp_path),
    }
    env.pop("CELERY_BROKER_URL", None)
    command = [sys.executable, "-m", "celery", "-A", "broker_test_app", "worker", "--pool"]
    command += ["prefork", "--concurrency", "2", "--without-mingle", "--without-gossip"]
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=log, stderr=log)
    sys.path.insert(0, str(tmp_path))
    monkeypatch.setenv("BROKER_TEST_FOLDER", str(tmp_path))
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)  # Celery would prefer it to ours
    try:
        from broker_test_app import work

        deadline = time.monotonic() + 60
        while len(child_pids(worker.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1)  # the pool processes wait for tasks
        work.delay(0)
        while not (tmp_path / "queue").glob("*.msg") and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1)  # one pool process runs it, the other waits for the next
        for pid in child_pids(worker.pid):
            os.kill(pid, signal.SIGKILL)
        work.delay(1)
        work.delay(2)

        deadline = time.monotonic() + 20
        while len(list(tmp_path.glob("done-*"))) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        done = sorted(p.name for p in tmp_path.glob("done-*"))
        assert done == ["done-0", "done-1", "done-2"], (tmp_path / "worker.log").read_text()
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("broker_test_app", None)
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
        log.close()
