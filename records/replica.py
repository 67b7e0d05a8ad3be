"""Reads a read replica may serve (DATABASE_REPLICA_URL): only those made inside
`reading_from_replica()`, the searches and the home page's list of patients; everything else,
every write above all, stays on the primary.

A replica lags its primary by a moment, and cannot take a lock or a write. So nothing is sent to
it unless a caller asked, outside any transaction on the primary: a look (its record read, its
access event), the audit trail, sessions and sign-in never ask, and a look always decides again
on the primary who may see what, whatever a search on the replica listed.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.db import DEFAULT_DB_ALIAS, connections

REPLICA = "replica"
_asked: ContextVar[bool] = ContextVar("reading_from_replica", default=False)


@contextmanager
def reading_from_replica() -> Iterator[None]:
    """The reads made inside (a `with` block, or a function so decorated) go to the replica
    when one is configured; without one, to the primary as ever."""
    token = _asked.set(True)
    try:
        yield
    finally:
        _asked.reset(token)


def replica_for_reads() -> str:
    """Where a read made now goes: the replica when asked for, configured, and not inside a
    transaction on the primary (which may need to see its own writes, or hold a lock)."""
    if (
        _asked.get()
        and REPLICA in connections.settings
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
