"""Telling an open record page that one of its patient's snapshots was just saved.

A fetch saves a snapshot and calls `snapshot_saved`; the page's live updates (care_record.updates)
wait on `subscribe(patient_id)` and re-read only then. With LCR_LIVE_URL (redis://...) the news
goes through Redis pub/sub; without it (the embedded demo, the fast tests) through one small file
per patient under LCR_LIVE_DIR, whose growth the waiting side notices. The news carries ids only
(link and heading), never patient data.
"""

import contextlib
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)

# How often the file channel looks for news: the delay it adds to an update, at the cost of a
# stat() per open page.
FILE_POLL_SECONDS = 0.02
FILE_MAX_BYTES = 64_000


class Subscription(Protocol):
    def wait(self, timeout: float) -> bool:
        """True as soon as a snapshot of the patient was saved since the last wait (or since the
        subscription began); False when `timeout` seconds passed without news."""


def _channel_name(patient_id: int) -> str:
    return f"lcr:live:patient:{patient_id}"


def _file_of(patient_id: int) -> Path:
    return Path(settings.LCR_LIVE_DIR) / f"patient-{patient_id}.news"


def _redis():
    import redis

    return redis.Redis.from_url(settings.LCR_LIVE_URL, socket_timeout=5, socket_connect_timeout=2)


def _publish_now(patient_id: int, news: dict) -> None:
    message = json.dumps(news)
    try:
        if settings.LCR_LIVE_URL:
            _redis().publish(_channel_name(patient_id), message)
            return
        path = _file_of(patient_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        # One short append is atomic enough: the reader only compares sizes, so a file begun
        # afresh when it grows long (any change of size is news) keeps the folder small.
        with path.open("a", encoding="utf-8") as news_file:
            if news_file.tell() > FILE_MAX_BYTES:
                news_file.truncate(0)
            news_file.write(message + "\n")
    except Exception:
        # A page not told is still right: its heartbeat re-reads within seconds. The save stands.
        logger.warning("could not tell patient %s's pages of a save", patient_id, exc_info=True)


def snapshot_saved(*, patient_id: int, link_id: int, category: str) -> None:
    """Tell the patient's open pages, once the save is committed (before, they would read the old
    row)."""
    news = {"link": link_id, "category": category}
    transaction.on_commit(lambda: _publish_now(patient_id, news), robust=True)


class _FileSubscription:
    def __init__(self, patient_id: int) -> None:
        self.path = _file_of(patient_id)
        self.seen = self._size()

    def _size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            size = self._size()
            if size != self.seen:
                self.seen = size
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(FILE_POLL_SECONDS, left))


class _RedisSubscription:
    def __init__(self, pubsub) -> None:
        self.pubsub = pubsub

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        news = False
        while True:
            left = deadline - time.monotonic() if not news else 0
            message = self.pubsub.get_message(ignore_subscribe_messages=True, timeout=max(left, 0))
            if message is None:
                return news
            news = True  # and drain whatever else already arrived, so that one read covers it


@contextlib.contextmanager
def subscribe(patient_id: int) -> Iterator[Subscription]:
    """Listen for the patient's snapshot saves from now on (subscribe before reading, so that a
    save between the read and the wait is not missed)."""
    if not settings.LCR_LIVE_URL:
        yield _FileSubscription(patient_id)
        return
    client = _redis()
    pubsub = client.pubsub()
    try:
        pubsub.subscribe(_channel_name(patient_id))
        yield _RedisSubscription(pubsub)
    finally:
        pubsub.close()
        client.close()
