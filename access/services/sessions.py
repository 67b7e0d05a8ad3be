"""Ending signed-in sessions (access.SignInSession): on the provider's back-channel logout, or by
an administrator in the admin. The session itself is deleted from the session store, so the
user's next request is signed out, whichever process serves it."""

from importlib import import_module

from django.conf import settings
from django.db.models import QuerySet

from access.models import SignInSession


def end_sessions(sessions: QuerySet[SignInSession]) -> int:
    """End these signed-in sessions; returns how many."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    keys = list(sessions.values_list("session_key", flat=True))
    for key in keys:
        store(session_key=key).delete()
    SignInSession.objects.filter(session_key__in=keys).delete()
    return len(keys)


def forget_ended_sessions() -> int:
    """Forget the rows of sessions that expired (or were flushed) without a sign-out; returns
    how many. Sessions live in the database with either engine this service uses."""
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    alive = Session.objects.filter(expire_date__gte=timezone.now()).values("session_key")
    return SignInSession.objects.exclude(session_key__in=alive).delete()[0]
