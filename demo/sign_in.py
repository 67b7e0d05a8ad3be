"""How `make run` signs people in: the simulated CIS2 and council providers (staff), the simulated
NHS login (patients, to their own part of the portal) and the simulated clinical system, where
they listen, how the portal is registered with each (its key, its role mappings, which demo
account each provider's user is), all made idempotently by demo.load.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from demo.identity_provider import CIS2_BASE_PATH, DEFAULT_TENANT_ID, demo_role_codes, demo_users

CLINICAL_SYSTEM_CLIENT_ID = "shared-care-record"


@dataclass(frozen=True)
class DemoProvider:
    slug: str
    name: str
    profile: str
    client_id: str
    port_offset: int  # from the first source's port
    scopes: str
    acr_values: str = ""
    default_organisation: str = ""
    claims: dict = field(default_factory=dict)
    # username -> (team key of demo.load.DEMO_TEAMS, role) for the provider's roles
    mappings: dict = field(default_factory=dict)

    def issuer(self, host: str, base_port: int) -> str:
        origin = f"http://{host}:{provider_port(self, base_port)}"
        if self.profile == "cis2":
            return origin + CIS2_BASE_PATH
        if self.profile == "nhs-login":
            return origin
        return f"{origin}/{DEFAULT_TENANT_ID}/v2.0"


DEMO_PROVIDERS = (
    DemoProvider(
        slug="cis2",
        name="NHS CIS2 (simulated)",
        profile="cis2",
        client_id="lcr-demo.apps.national",
        port_offset=6,
        scopes="openid profile email nationalrbacaccess selectedrole",
        acr_values="AAL2_OR_AAL3_ANY",
        mappings={
            "gp": ("gp", "gp"),
            "ae": ("ae", "ae_clinician"),
            "nurse2roles": ("ae", "ae_clinician"),
            "admin": ("office", "administrator"),
            "privacy": ("office", "privacy_officer"),
        },
    ),
    DemoProvider(
        slug="riverside",
        name="Riverside Council (simulated)",
        profile="council",
        client_id="lcr-demo-riverside",
        port_offset=7,
        scopes="openid profile email",
        default_organisation="LBR",
        claims={"roles": "roles", "assurance": "amr", "assurance_values": {"pwd": 1, "mfa": 2}},
        mappings={"social": ("social", "social_worker"), "manager": ("social", "social_worker")},
    ),
)


# Patients sign in through it to their own part of the portal (care_record/patient_sign_in.py):
# never a staff provider, so it is not among DEMO_PROVIDERS and has no role mappings.
NHS_LOGIN = DemoProvider(
    slug="nhs-login",
    name="NHS login (simulated)",
    profile="nhs-login",
    client_id="lcr-demo-nhs-login",
    port_offset=9,
    scopes="openid profile nhs_number email",
)
PATIENT_CALLBACK_PATH = "/your-record/sign-in/callback/"


def provider_port(provider: DemoProvider, base_port: int) -> int:
    return base_port + provider.port_offset


def provider_command(provider: DemoProvider, host: str, base_port: int, portal: str) -> list[str]:
    """How the supervisor starts a simulated provider (after `python`), with the portal
    registered as its client: its callback, back-channel logout and JWKS addresses."""
    port = provider_port(provider, base_port)
    command = [
        "-m", "demo.identity_provider", "--profile", provider.profile,
        "--host", host, "--port", str(port), "--client-id", provider.client_id,
        "--client-jwks-uri", f"{portal}/oidc/jwks.json",
    ]  # fmt: skip
    if provider.profile == "nhs-login":
        return [*command, "--redirect-uri", portal + PATIENT_CALLBACK_PATH]
    return [
        *command,
        "--redirect-uri", f"{portal}/sign-in/{provider.slug}/callback/",
        "--backchannel-logout-uri", f"{portal}/oidc/{provider.slug}/backchannel-logout/",
        "--post-logout-redirect-uri", f"{portal}/sign-in/?signed-out",
    ]  # fmt: skip


def clinical_system_port(base_port: int) -> int:
    return base_port + 8


def make_portal_key(var: Path) -> Path:
    """The portal's private key for private_key_jwt, made on the first run (never committed)."""
    path = var / "oidc-portal-key.pem"
    if not path.exists():
        from joserfc.jwk import RSAKey

        var.mkdir(parents=True, exist_ok=True)
        path.write_bytes(RSAKey.generate_key(2048, private=True).as_pem(private=True))
        path.chmod(0o600)
    return path


def provider_only_users(provider: DemoProvider) -> list[tuple[str, str, str]]:
    """The provider's demo users who have no account of their own in demo.load: (username,
    password, what they show)."""
    from demo.load import DEMO_USERS

    known = {user.username for user in DEMO_USERS}
    shown = {
        "nurse2roles": "nurse with two roles: CIS2 asks which",
        "student": "a role nobody mapped: a page says who to ask",
        "manager": "social care manager (mapped as a social worker)",
    }
    from demo.population import generate

    users = demo_users(provider.profile, generate(patients=1))
    return [(u.username, u.password, shown.get(u.username, "")) for u in users
            if u.username not in known]  # fmt: skip


def register_sign_in(population, teams: dict, *, host: str, base_port: int) -> None:
    """The demo providers, their role mappings to the demo teams, the demo accounts their users
    are, and the clinical system allowed to launch the record (idempotent)."""
    from django.contrib.auth import get_user_model

    from access.models import ClinicalSystem, ExternalIdentity, IdentityProvider, RoleMapping
    from access.services.sign_in import ProviderRole
    from demo.load import DEMO_USERS

    codes = demo_role_codes(population)
    for demo in DEMO_PROVIDERS:
        provider, _ = IdentityProvider.objects.update_or_create(
            slug=demo.slug,
            defaults={
                "name": demo.name,
                "issuer": demo.issuer(host, base_port),
                "client_id": demo.client_id,
                "scopes": demo.scopes,
                "acr_values": demo.acr_values,
                "default_organisation": demo.default_organisation,
                "claims": demo.claims,
                "order": demo.port_offset,
            },
        )
        people = {user.username: user for user in demo_users(demo.profile, population)}
        for username, (team, role) in demo.mappings.items():
            for organisation, code, name in _roles_of(demo, username, codes, people):
                RoleMapping.objects.update_or_create(
                    provider=provider,
                    organisation=organisation,
                    rbac_code=ProviderRole(organisation, code).rbac_code,
                    defaults={"team": teams[team], "role": role, "role_name": name.strip('"')},
                )
        for account in DEMO_USERS:
            if account.signs_in_at == demo.slug and account.username in people:
                ExternalIdentity.objects.update_or_create(
                    provider=provider,
                    subject=people[account.username].sub,
                    defaults={"user": get_user_model().objects.get(username=account.username)},
                )
    IdentityProvider.objects.update_or_create(
        slug=NHS_LOGIN.slug,
        defaults={
            "name": NHS_LOGIN.name,
            "issuer": NHS_LOGIN.issuer(host, base_port),
            "client_id": NHS_LOGIN.client_id,
            "scopes": NHS_LOGIN.scopes,
            "for_patients": True,
            "order": NHS_LOGIN.port_offset,
        },
    )
    ClinicalSystem.objects.update_or_create(
        issuer=f"http://{host}:{clinical_system_port(base_port)}/fhir",
        defaults={
            "name": "Riverside GP clinical system (simulated)",
            "client_id": CLINICAL_SYSTEM_CLIENT_ID,
            "active": True,
        },
    )


def _roles_of(demo: DemoProvider, username: str, codes: dict, people: dict):
    if demo.profile == "cis2":
        return codes[username][:1]  # a nurse's second role is the practice's: left unmapped
    return [(demo.default_organisation, role, role) for role in people[username].roles]
