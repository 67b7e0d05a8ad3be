"""The web side of who is asking: the team a signed-in user acts for, kept in their session."""

from collections.abc import Callable

from django.contrib import messages
from django.http import HttpRequest
from django.urls import reverse

from access.exceptions import AccessDenied
from access.models import Membership
from access.policy import (
    Actor,
    actor_for,
    manages_relationships,
    may_break_glass,
    memberships_of_user,
    reviews_break_glass,
    sees_records,
)
from records.permissions import may_merge, may_unmerge, reviews_identities
from records.selectors import waiting_for_review

SESSION_TEAM = "acting_team_id"


def actor_from_request(request: HttpRequest) -> Actor:
    """Worked out once per request (the page and its header both ask)."""
    actor = getattr(request, "_lcr_actor", None)
    if actor is None or actor.user is not request.user:
        team_id = request.session.get(SESSION_TEAM)
        actor = actor_for(request.user, team_id, memberships=memberships_of(request))
        request._lcr_actor = actor
    return actor


def memberships_of(request: HttpRequest) -> list[Membership]:
    """All the signed-in user's memberships with their teams and role policies, read once per
    request: the second-factor check and the actor both need them."""
    cached = getattr(request, "_lcr_memberships", None)
    if cached is None or cached[0] is not request.user:
        found = list(memberships_of_user(request.user))
        cached = request._lcr_memberships = (request.user, found)
    return cached[1]


def acting_team(request: HttpRequest) -> dict:
    """Template context: the team the signed-in user acts for, shown in every page's header."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    actor = actor_from_request(request)
    return {"acting_team": actor.team, "navigation": navigation(actor, request.path)}


def navigation(actor: Actor, path: str) -> list[dict]:
    """The header's links: what this role does here, read from its policy (no extra query)."""
    links = []
    if sees_records(actor):
        links += [("My patients", "home"), ("Find a patient", "patient-search")]
    if may_break_glass(actor):
        links.append(("Emergency access", "break-glass"))
    if manages_relationships(actor):
        links += [("Care relationships", "manage-find-patient"), ("Teams", "manage-teams")]
    if reviews_break_glass(actor):
        links.append(("Privacy reviews", "audit-review-queue"))
        links.append(("Access reports", "audit-find-patient"))
    if reviews_identities(actor.user):
        # The count is the reviewer's work waiting: one indexed count, for reviewers only.
        links.append((f"Identity reviews ({waiting_for_review()})", "identity-queue"))
    if may_merge(actor.user) or may_unmerge(actor.user):
        links.append(("Merging records", "identity-merges"))
    items = []
    for text, name in links:
        href = reverse(name)
        items.append({"text": text, "href": href, "current": path == href})
    return items


def require_administrator(request: HttpRequest) -> None:
    """Refuses (as not found) anyone whose acting role does not manage relationships and teams."""
    if not manages_relationships(actor_from_request(request)):
        raise AccessDenied("only administrators manage care relationships and teams")


def require_privacy_officer(request: HttpRequest) -> None:
    """Refuses (as not found) anyone whose acting role does not review the audit trail."""
    if not reviews_break_glass(actor_from_request(request)):
        raise AccessDenied("only privacy officers read the audit trail")


def require_identity_reviewer(request: HttpRequest) -> None:
    """Refuses (as not found) anyone who does not review identities (records.permissions)."""
    if not reviews_identities(request.user):
        raise AccessDenied("only identity reviewers review source records")


def require_merger(request: HttpRequest, *, or_unmerger: bool = False) -> None:
    """Refuses (as not found) anyone who may not merge records (nor undo merges, if
    `or_unmerger`)."""
    if not (may_merge(request.user) or (or_unmerger and may_unmerge(request.user))):
        raise AccessDenied("only those who may merge records merge them")


def carry_out(
    request: HttpRequest,
    action: Callable[[], object],
    *,
    refused: type[Exception] | tuple[type[Exception], ...],
    done: str,
) -> None:
    """Run a service for a page's form and tell the person how it went: the service's own words
    when it refuses (`refused`), `done` when it is done."""
    try:
        action()
    except refused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, done)
