"""Changes to who may see what, one module a concept: teams and memberships, care relationships
and their grants, emergency access, objections, API clients. Every change records its actor in
django-auditlog. Callers use `access.services.<function>`: the package's face, re-exported here.
"""

from access.services.api_clients import register_api_client, rotate_api_client_secret
from access.services.emergency_access import break_glass, review_break_glass
from access.services.objections import record_objection, withdraw_objection
from access.services.relationships import (
    end_expired_relationships,
    end_relationship,
    reconcile_grants,
    start_due_relationships,
    start_relationship,
)
from access.services.teams import add_member, create_team, end_membership

__all__ = [
    "add_member",
    "break_glass",
    "create_team",
    "end_expired_relationships",
    "end_membership",
    "end_relationship",
    "reconcile_grants",
    "record_objection",
    "register_api_client",
    "review_break_glass",
    "rotate_api_client_secret",
    "start_due_relationships",
    "start_relationship",
    "withdraw_objection",
]
