"""Signing in through an identity provider: from the claims it vouches for to a user here, with
exactly the team and role that the selected role maps to, re-read at every sign-in.

The provider's `claims` mapping (data, edited in the admin) says which claim holds what, so that
CIS2, a council's Entra ID and the next provider differ only in data. Nothing here talks HTTP:
lcr/oidc.py checks the tokens and hands over claims it has verified.
"""

from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from access.exceptions import SignInRefused
from access.models import ExternalIdentity, IdentityProvider, Membership, RoleMapping, RolePolicy
from access.services.teams import add_member, end_membership
from records.services import system_user

# CIS2's claims (NHS CIS2 Authentication, "Scopes and claims"): the defaults, so that a CIS2
# provider needs no mapping at all. A provider's own `claims` overrides any of these keys.
CIS2_CLAIMS = {
    "roles": "nhsid_nrbac_roles",
    "selected_role": "selected_roleid",
    "role_id": "person_roleid",
    "organisation": "org_code",
    "role_code": "role_code",
    "role_name": "role_name",
    "assurance": "authentication_assurance_level",
    "assurance_values": {"1": 1, "2": 2, "3": 3},
    "given_name": "given_name",
    "family_name": "family_name",
    "email": "email",
}
SIGN_IN_USER = "system.sign-in"


@dataclass(frozen=True)
class ProviderRole:
    """One role the provider says the user holds: where, which code, called what."""

    organisation: str
    code: str
    name: str = ""

    @property
    def rbac_code(self) -> str:
        """The national RBAC code of a CIS2 role code ("S8000:G8000:R8000" -> "R8000"); a
        council's app role is its own code."""
        return self.code.rsplit(":", 1)[-1]


@dataclass
class SignedIn:
    """The outcome of a sign-in the provider vouched for: the user, the role they selected (or
    None when they hold none this service knows), and how strongly they authenticated."""

    user: AbstractBaseUser
    assurance: int
    role: ProviderRole | None
    mappings: list[RoleMapping] = field(default_factory=list)

    @property
    def mapped(self) -> bool:
        return bool(self.mappings)


def claim_names(provider: IdentityProvider) -> dict:
    return {**CIS2_CLAIMS, **(provider.claims or {})}


def assurance_of(provider: IdentityProvider, claims: dict) -> int:
    """The authentication assurance level the claims state (the highest, when a claim lists
    several methods, as `amr` does); 0 when they state none this provider's mapping knows."""
    names = claim_names(provider)
    stated = claims.get(names["assurance"])
    values = stated if isinstance(stated, list) else [stated]
    levels = names.get("assurance_values") or {}
    return max((levels.get(str(value), 0) for value in values if value is not None), default=0)


def selected_roles(provider: IdentityProvider, claims: dict) -> list[ProviderRole]:
    """The roles the user signs in with: CIS2's selected role (one of `nhsid_nrbac_roles`), or,
    for a provider whose roles are plain names (a council's app roles), all of them, at the
    provider's own organisation."""
    names = claim_names(provider)
    stated = claims.get(names["roles"]) or []
    if not isinstance(stated, list):
        stated = [stated]
    if all(isinstance(role, str) for role in stated):
        return [ProviderRole(provider.default_organisation, role, role) for role in stated if role]
    entries = [role for role in stated if isinstance(role, dict)]
    selected = claims.get(names["selected_role"])
    if selected:
        entries = [role for role in entries if str(role.get(names["role_id"])) == str(selected)]
    elif len(entries) > 1:
        raise SignInRefused(
            "no-selected-role",
            "Your identity provider did not say which of your roles you are using. Sign in "
            "again and choose a role.",
        )
    return [
        ProviderRole(
            str(role.get(names["organisation"]) or provider.default_organisation),
            str(role.get(names["role_code"]) or ""),
            str(role.get(names["role_name"]) or "").replace('"', ""),
        )
        for role in entries
        if role.get(names["role_code"])
    ]


def mappings_for(provider: IdentityProvider, roles: list[ProviderRole]) -> list[RoleMapping]:
    """The role mappings of these roles: one query, matched on the RBAC code or the whole code."""
    if not roles:
        return []
    codes = {code for role in roles for code in (role.code, role.rbac_code)}
    found = RoleMapping.objects.select_related("team").filter(
        provider=provider,
        organisation__in={role.organisation for role in roles},
        rbac_code__in=codes,
    )
    wanted = {(role.organisation, code) for role in roles for code in (role.code, role.rbac_code)}
    return [mapping for mapping in found if (mapping.organisation, mapping.rbac_code) in wanted]


def required_assurance(mappings: list[RoleMapping]) -> int:
    """The assurance the strictest of these roles asks of a sign-in (RolePolicy)."""
    roles = {mapping.role for mapping in mappings}
    levels = RolePolicy.objects.filter(role__in=roles).values_list("sign_in_assurance", flat=True)
    return max(levels, default=3 if roles else 0)


@transaction.atomic
def sign_in_with_claims(*, provider: IdentityProvider, claims: dict) -> SignedIn:
    """The user these verified claims name, in exactly the teams and roles their selected role
    maps to (memberships they held before and no longer map to end now, with the reason in the
    change history). Refuses (SignInRefused) a sign-in whose assurance is below what the role
    asks, before anything is written."""
    if provider.for_patients:
        raise SignInRefused("patients-provider", "This sign-in is for patients, not for staff.")
    names = claim_names(provider)
    subject = str(claims.get("sub") or "")
    if not subject:
        raise SignInRefused("no-subject", "Your identity provider did not say who you are.")
    roles = selected_roles(provider, claims)
    mappings = mappings_for(provider, roles)
    assurance = assurance_of(provider, claims)
    needed = required_assurance(mappings)
    if assurance < needed:
        raise SignInRefused(
            "assurance",
            f"Your role needs a stronger sign-in (level {needed}, a smartcard or an equivalent "
            f"for clinical roles) than the one you used (level {assurance}). Sign in again "
            "with your smartcard or security key.",
        )
    user = _user_for(provider, subject, claims, names)
    _keep_only(user, mappings, provider)
    return SignedIn(user=user, assurance=assurance, role=roles[0] if roles else None,
                    mappings=mappings)  # fmt: skip


def _user_for(provider: IdentityProvider, subject: str, claims: dict, names: dict):
    identity = (
        ExternalIdentity.objects.select_for_update()
        .select_related("user")
        .filter(provider=provider, subject=subject)
        .first()
    )
    details = {
        "first_name": str(claims.get(names["given_name"]) or "")[:150],
        "last_name": str(claims.get(names["family_name"]) or "")[:150],
        "email": str(claims.get(names["email"]) or "")[:254],
    }
    if not details["first_name"] and claims.get("name"):
        details["first_name"] = str(claims["name"])[:150]
    if identity is None:
        user = get_user_model().objects.create(
            username=f"{provider.slug}:{subject}"[:150], **details
        )
        user.set_unusable_password()
        user.save(update_fields=["password"])
        identity = ExternalIdentity.objects.create(provider=provider, subject=subject, user=user)
    user = identity.user
    if not user.is_active:
        raise SignInRefused(
            "switched-off", "Your access to the shared care record has been switched off."
        )
    changed = [name for name, value in details.items() if value and getattr(user, name) != value]
    for name in changed:
        setattr(user, name, details[name])
    if changed:
        user.save(update_fields=changed)
    identity.last_sign_in_at = timezone.now()
    identity.save(update_fields=["last_sign_in_at"])
    return user


def _keep_only(user, mappings: list[RoleMapping], provider: IdentityProvider) -> None:
    """Memberships follow the identity provider: the mapped ones added (or their role changed),
    every other one ended."""
    actor = system_user(SIGN_IN_USER, "Sign-in")
    wanted = {mapping.team_id: mapping for mapping in mappings}
    for membership in Membership.objects.filter(user=user).select_related("team"):
        mapping = wanted.get(membership.team_id)
        if mapping is None:
            end_membership(
                membership=membership,
                reason=f"Signed in through {provider.name} without a role in this team.",
                actor=actor,
            )
    for mapping in wanted.values():
        add_member(
            team=mapping.team, user=user, role=mapping.role, actor=actor,
            reason=f"Signed in through {provider.name} as {mapping.organisation} "
            f"{mapping.rbac_code} {mapping.role_name}".strip() + ".",
        )  # fmt: skip
