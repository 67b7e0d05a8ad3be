"""The web side of who is asking: the team a signed-in user acts for, kept in their session."""

from django.http import HttpRequest

from access.policy import Actor, actor_for

SESSION_TEAM = "acting_team_id"


def actor_from_request(request: HttpRequest) -> Actor:
    """Worked out once per request (the page and its header both ask)."""
    actor = getattr(request, "_lcr_actor", None)
    if actor is None or actor.user is not request.user:
        actor = actor_for(request.user, request.session.get(SESSION_TEAM))
        request._lcr_actor = actor
    return actor


def acting_team(request: HttpRequest) -> dict:
    """Template context: the team the signed-in user acts for, shown in every page's header."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {"acting_team": actor_from_request(request).team}
