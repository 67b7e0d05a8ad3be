"""The embedded Celery broker (`filesystem://`), with each file made whole before others see it.

kombu's file transport creates a message file empty, then locks and writes it; a reader takes the
file without the lock, so a worker polling at that moment reads nothing and dies on the JSON
(celery/kombu#1551; it lost one message and stopped CI's worker). Here a message is written under
a name no reader looks for and renamed into place, and an exchange's table is created the same way.
"""

import contextlib
import os
import uuid
from pathlib import Path
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.utils.json import dumps


def _write_whole(path: Path, text: str, *, replace: bool) -> None:
    """Write `text` to `path` so that it appears complete or not at all.

    With replace=False an existing file is kept (another process made it first)."""
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")
    try:
        partial.write_bytes(text.encode())
        if replace:
            os.replace(partial, path)
        else:
            with contextlib.suppress(FileExistsError):
                os.link(partial, path)
    finally:
        partial.unlink(missing_ok=True)


class Channel(filesystem.Channel):
    def _put(self, queue: str, payload: dict, **kwargs) -> None:
        # The same name as kombu's own (time first, so the folder sorts oldest first).
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        try:
            _write_whole(Path(self.data_folder_out) / name, dumps(payload), replace=True)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {name!r} to directory") from exc

    def _queue_bind(self, exchange: str, routing_key: str, pattern: str, queue: str) -> None:
        # kombu opens a new table with "wb" (empty until written); made whole first, kombu
        # only ever finds it existing, and reads and extends it under its lock.
        table = self._exchange_file(exchange)
        self.control_folder.mkdir(parents=True, exist_ok=True)
        if not table.exists():
            try:
                _write_whole(table, dumps([]), replace=False)
            except OSError as exc:
                raise ChannelError(f"Cannot open {table}") from exc
        super()._queue_bind(exchange, routing_key, pattern, queue)


class Transport(filesystem.Transport):
    """kombu's file transport, polled from the worker's event loop.

    kombu's own cannot be waited on, so Celery runs its blocking loop with it, where the prefork
    pool's processes share one pipe for their tasks behind one lock, and an idle pool process
    waits for a task holding that lock: killed with SIGKILL, it never gives it back, and the new
    pool processes wait for it for ever (the worker took minutes, until supervision killed it).
    Saying it is asynchronous and polling the folder on the event loop's timer, as Redis's
    readable sockets are, gives each pool process a pipe of its own, and a killed one is replaced
    by itself, its task redelivered (acks_late and reject_on_worker_lost)."""

    Channel = Channel
    implements = filesystem.Transport.implements.extend(asynchronous=True)
    # Messages delivered in one tick of the loop at most, so that the pool's pipes and timers
    # are served between them; the rest wait for the next tick.
    deliveries_per_tick = 10

    def register_with_event_loop(self, connection, loop) -> None:
        loop.call_repeatedly(self.polling_interval or 0.1, self._deliver_ready, connection)

    def _deliver_ready(self, connection) -> None:
        for _ in range(self.deliveries_per_tick):
            try:
                # No wait: a message ready is delivered, else socket.timeout at once (also when
                # the worker's prefetch is full and it takes nothing more now).
                self.drain_events(connection, timeout=0)
            except TimeoutError:
                return


def use_for_filesystem_urls() -> None:
    """Make `filesystem://` mean this transport in this process, for every Celery app in it."""
    TRANSPORT_ALIASES["filesystem"] = "lcr.broker:Transport"
