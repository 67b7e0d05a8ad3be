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
