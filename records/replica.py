"""Reads a read replica may serve (DATABASE_REPLICA_URL): only those made inside
`reading_from_replica()`, the searches and the home page's list of patients; everything else,
every write above all, stays on the primary.

A replica lags its primary by a moment, and cannot take a lock or a write. So nothing is sent to
it unless a caller asked, outside any transaction on the primary: a look (its record read, its
access event), the audit trail, sessions and sign-in never ask, and a look always decides again
on the primary who may see what, whatever a search on the replica listed.
"""

import functools
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import ParamSpec, TypeVar

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, router

REPLICA = "replica"
# A replica that failed is left alone this long (per process) before it is tried again: its
# readers meanwhile read the primary, rather than each waiting for a connection that fails.
REPLICA_REST_SECONDS = 30.0
_asked: ContextVar[bool] = ContextVar("reading_from_replica", default=False)
_resting_until = 0.0
logger = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")


@contextmanager
def reading_from_replica() -> Iterator[None]:
    """The reads made inside (a `with` block) go to the replica when one is configured and
    resting from no failure; without one, to the primary as ever. A function that only reads
    is better decorated with `replica_reader`, which falls back to the primary."""
    token = _asked.set(True)
    try:
        yield
    finally:
        _asked.reset(token)


def replica_reader(read: Callable[P, R]) -> Callable[P, R]:
    """Decorates a function that only reads: it reads from the replica (reading_from_replica).
    If the replica fails (down, refusing, cut off mid-read), the function is called again on
    the primary and the replica rests for REPLICA_REST_SECONDS: a search or the home page is
    slower then, never an error."""

    @functools.wraps(read)
    def on_replica(*args: P.args, **kwargs: P.kwargs) -> R:
        with reading_from_replica():
            if replica_for_reads() != REPLICA:
                return read(*args, **kwargs)  # no replica, resting, or in a transaction
            try:
                return read(*args, **kwargs)
            except DatabaseError as error:
                _rest_replica(error)
        return read(*args, **kwargs)

    return on_replica


def _rest_replica(error: DatabaseError) -> None:
    global _resting_until
    _resting_until = time.monotonic() + REPLICA_REST_SECONDS
    connections[REPLICA].close()
    # The error's class only: its text can quote what was asked.
    logger.warning(
        "The read replica failed (%s); reading from the primary for %d s",
        type(error).__name__,
        REPLICA_REST_SECONDS,
    )


def replica_for_reads() -> str:
    """Where a read made now goes: the replica when asked for, configured (its alias and the
    router both: the router is what sends Django's own reads there), resting from no failure,
    and not inside a transaction on the primary (which may need to see its own writes, or hold
    a lock). Hand-written SQL asks this too, so it goes where the ORM's reads go."""
    if (
        _asked.get()
        and REPLICA in connections.settings
        and any(isinstance(installed, ReplicaRouter) for installed in router.routers)
        and time.monotonic() >= _resting_until
        and not connections[DEFAULT_DB_ALIAS].in_atomic_block
    ):
        return REPLICA
    return DEFAULT_DB_ALIAS


class ReplicaRouter:
    """Django's database router for a primary and its replica (settings.DATABASE_ROUTERS)."""

    def db_for_read(self, model, **hints) -> str:
        # Always an answer, never None: Django would otherwise read an object's relations from
        # the database it came from, the replica, long after the caller's block has ended.
        return replica_for_reads()

    def db_for_write(self, model, **hints) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints) -> bool:
        return True  # the same rows, on either side

    def allow_migrate(self, db: str, app_label: str, **hints) -> bool:
        return db == DEFAULT_DB_ALIAS  # the replica follows the primary's schema
