"""What the Celery broker can tell us cheaply: is it reachable, and how long are its queues?

Read by `/readyz` (reachable, with a short timeout) and by `/metrics` (each queue's length and
the age of its oldest task). Only two brokers let us read a queue without taking from it: Redis
(LLEN, and the oldest message with LINDEX) and the embedded `filesystem://` broker of `make run`
(one file a message). For any other broker (RabbitMQ, the tests' `memory://`) the queue metrics
are left out rather than guessed; reachability is asked of kombu's own connection.
"""

import os
import time
from dataclasses import dataclass
from pathlib import Path

import orjson
import redis
from kombu import Connection

from lcr.celery import app
from lcr.task_metrics import SENT_AT_HEADER

# kombu's Redis transport keeps a task sent with a priority in a list of its own (a suffix per
# priority step); the product sends none, but a queue's length counts them all.
_REDIS_PRIORITY_SEPARATOR = "\x06\x16"
_REDIS_PRIORITY_STEPS = (3, 6, 9)


@dataclass(frozen=True)
class BrokerHealth:
    transport: str
    reachable: bool
    detail: str = ""

    def as_json(self) -> dict:
        state = {"status": "ok" if self.reachable else "unreachable", "transport": self.transport}
        if self.detail:
            state["detail"] = self.detail
        return state


@dataclass(frozen=True)
class QueueDepth:
    queue: str
    length: int
    oldest_seconds: float | None  # None: empty, or its oldest task carries no sent time


def transport() -> str:
    """The broker's kind as its URL names it: redis, rediss, filesystem, amqp, memory..."""
    return str(app.conf.broker_url or "").partition("://")[0] or "unknown"


def queues() -> list[str]:
    """The queues this deployment's workers read: the default one, and the signing queue."""
    from django.conf import settings

    named = [app.conf.task_default_queue, settings.LCR_AUDIT_SIGNING_QUEUE]
    return sorted(set(named))


def broker_health(timeout: float) -> BrokerHealth:
    """One cheap round trip (Redis PING; a folder check for the file broker; kombu's connect
    otherwise), waiting at most `timeout` seconds. The reason, never the URL (it may hold a
    password), when it fails."""
    kind = transport()
    try:
        if kind in ("redis", "rediss"):
            _redis(timeout).ping()
        elif kind == "filesystem":
            folder = _filesystem_folder()
            if not os.access(folder, os.R_OK | os.W_OK):
                return BrokerHealth(kind, False, "its folder cannot be read and written")
        else:
            with Connection(app.conf.broker_url, connect_timeout=timeout) as connection:
                connection.ensure_connection(max_retries=1, timeout=timeout)
    except Exception as error:
        return BrokerHealth(kind, False, type(error).__name__)
    return BrokerHealth(kind, True)


def queue_depths(timeout: float = 1.0) -> list[QueueDepth] | None:
    """Each queue's length and its oldest task's age, or None where the broker cannot say."""
    kind = transport()
    if kind in ("redis", "rediss"):
        return [_redis_depth(_redis(timeout), queue) for queue in queues()]
    if kind == "filesystem":
        return _filesystem_depths(_filesystem_folder())
    return None  # RabbitMQ and others: no cheap, side-effect-free read of a queue's oldest task


def _redis(timeout: float) -> redis.Redis:
    return redis.Redis.from_url(
        app.conf.broker_url, socket_timeout=timeout, socket_connect_timeout=timeout
    )


def _redis_depth(client: redis.Redis, queue: str) -> QueueDepth:
    names = [queue, *(f"{queue}{_REDIS_PRIORITY_SEPARATOR}{n}" for n in _REDIS_PRIORITY_STEPS)]
    with client.pipeline() as pipe:
        for name in names:
            pipe.llen(name)
        pipe.lindex(queue, -1)  # kombu pushes on the left and takes from the right: the oldest
        *lengths, oldest = pipe.execute()
    sent_at = None
    if oldest:
        try:
            sent_at = orjson.loads(oldest).get("headers", {}).get(SENT_AT_HEADER)
        except (orjson.JSONDecodeError, AttributeError):
            sent_at = None
    age = max(0.0, time.time() - sent_at) if isinstance(sent_at, int | float) else None
    return QueueDepth(queue, sum(lengths), age)


def _filesystem_folder() -> Path:
    options = app.conf.broker_transport_options or {}
    return Path(options.get("data_folder_in") or ".")


def _filesystem_depths(folder: Path) -> list[QueueDepth]:
    """One file a message, named "<time>_<uuid>.<queue>.msg" (lcr/broker.py); its age is its
    file's, as it was renamed into place whole when sent."""
    wanted = {f"{queue}.msg": queue for queue in queues()}
    counts = dict.fromkeys(wanted.values(), 0)
    oldest: dict[str, float] = {}
    now = time.time()
    with os.scandir(folder) as entries:
        for entry in entries:
            queue = wanted.get(entry.name.partition(".")[2])
            if queue is None:
                continue
            try:
                written = entry.stat().st_mtime
            except FileNotFoundError:
                continue  # taken by a worker meanwhile
            counts[queue] += 1
            oldest[queue] = min(oldest.get(queue, written), written)
    return [
        QueueDepth(queue, counts[queue], max(0.0, now - oldest[queue]) if queue in oldest else None)
        for queue in sorted(counts)
    ]
