"""The users and clients of the simulated identity providers (demo/identity_provider.py): the
demo's synthetic staff with their CIS2 RBAC roles or council app roles, and registered clients.

DEMO_ROLE_CODES is read by the relying party's demo loader as well, so the role mappings it makes
match the codes the simulated CIS2 sends.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from demo.population import Population

# The demo's RBAC roles, read by the relying party's demo loader too, so both sides use the same
# codes: username -> ((organisation, role code, role name), ...). PRACTICE stands for the GP
# practice of the population's first person (demo_role_codes() resolves it). The privacy officer's
# and identity reviewer's codes are this demo's choice in the shape of the national RBAC database
# (S8001 "Admin", G8006 "Information Governance"), not published codes.
PRACTICE = "<practice>"
_CLINICAL = '"Clinical":"Clinical Provision":"Clinical Practitioner Access Role"'
_NURSE = '"Clinical":"Clinical Provision":"Nurse Access Role"'
DEMO_ROLE_CODES: dict[str, tuple[tuple[str, str, str], ...]] = {
    "gp": ((PRACTICE, "S8000:G8000:R8000", _CLINICAL),),
    "ae": (("RXT", "S8000:G8000:R8000", _CLINICAL),),
    "nurse2roles": (("RXT", "S8000:G8000:R8001", _NURSE), (PRACTICE, "S8000:G8000:R8001", _NURSE)),
    "admin": (
        (
            "LCR01",
            "S8000:G8001:R8008",
            '"Clinical Support":"Clinical Support":"Admin/Clinical Support Access Role"',
        ),
    ),
    "privacy": (
        ("LCR01", "S8001:G8006:R8011", '"Admin":"Information Governance":"Privacy Officer"'),
    ),
    "reviewer": (
        ("LCR01", "S8001:G8006:R8012", '"Admin":"Information Governance":"Identity Reviewer"'),
    ),
    "checker": (
        ("LCR01", "S8001:G8006:R8012", '"Admin":"Information Governance":"Identity Reviewer"'),
    ),
    "student": (("RXT", "S8000:G8000:R8004", '"Clinical":"Clinical Provision":"Student"'),),
}
# username -> (password, given name, family name, 12-digit CIS2 UUID)
_CIS2_PEOPLE = {
    "gp": ("demo-gp-2026", "Grace", "Okafor", "555000000101"),
    "ae": ("demo-ae-2026", "Arjun", "Mehta", "555000000102"),
    "nurse2roles": ("demo-nurse2roles-2026", "Niamh", "Byrne", "555000000103"),
    "admin": ("demo-admin-2026", "Adele", "Mensah", "555000000104"),
    "privacy": ("demo-privacy-2026", "Priya", "Shah", "555000000105"),
    "reviewer": ("demo-reviewer-2026", "Rhys", "Evans", "555000000106"),
    "checker": ("demo-checker-2026", "Chidi", "Obi", "555000000108"),
    "student": ("demo-student-2026", "Sam", "Turner", "555000000107"),
}
COUNCIL_ROLES = {"social": ("SocialWorker",), "manager": ("SocialCareManager",)}
_COUNCIL_PEOPLE = {
    "social": ("demo-social-2026", "Sofia", "Alvarez", "3c1f5b8e-2d4a-4e6b-9a7c-1f0d2e3b4a01"),
    "manager": ("demo-manager-2026", "Malik", "Hussain", "3c1f5b8e-2d4a-4e6b-9a7c-1f0d2e3b4a02"),
}


def person_names() -> dict[str, tuple[str, str]]:
    """username -> (given name, family name) of every demo person the providers know."""
    people = {**_CIS2_PEOPLE, **_COUNCIL_PEOPLE}
    return {username: (given, family) for username, (_, given, family, _) in people.items()}


@dataclass
class IdentityProviderUser:
    """Someone who can sign in at a simulated provider. `roles` are CIS2 role dicts
    (person_orgid, person_roleid, org_code, role_name, role_code) or council app role names."""

    username: str
    password: str
    sub: str
    given_name: str
    family_name: str
    email: str
    roles: list = field(default_factory=list)
    # NHS login's patients only: their verified NHS number, date of birth (YYYY-MM-DD) and how
    # far NHS login has proved who they are ("P9": fully, "P5": not yet; NHS login's levels).
    nhs_number: str = ""
    birthdate: str = ""
    proofing_level: str = ""

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"


@dataclass
class RegisteredClient:
    """A relying party registered at the provider. Its keys for private_key_jwt are `jwks` (a
    JWKS dict) or fetched from `jwks_uri` at token time; `client_secret` allows a secret."""

    client_id: str
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str] = field(default_factory=list)
    backchannel_logout_uri: str = ""
    jwks_uri: str = ""
    jwks: dict | None = None
    client_secret: str = ""


def demo_role_codes(population: Population) -> dict[str, tuple[tuple[str, str, str], ...]]:
    """DEMO_ROLE_CODES with PRACTICE replaced by the example patient's practice's ODS code."""
    practice = population.people[0].gp_practice.ods_code
    return {
        username: tuple((practice if org == PRACTICE else org, code, name) for org, code, name in r)
        for username, r in DEMO_ROLE_CODES.items()
    }


def demo_users(profile: str, population: Population) -> list[IdentityProviderUser]:
    """The demo's users at `profile` (synthetic people; their passwords are published)."""
    if profile == "cis2":
        users = []
        for username, roles in demo_role_codes(population).items():
            password, given, family, uid = _CIS2_PEOPLE[username]
            role_dicts = [
                {
                    # CIS2's ids for "this person in this organisation" and "in this role".
                    "person_orgid": f"{uid[-6:]}{index:02d}0001",
                    "person_roleid": f"{uid[-6:]}{index:02d}1001",
                    "org_code": org,
                    "role_name": name,
                    "role_code": code,
                }
                for index, (org, code, name) in enumerate(roles, start=1)
            ]
            email = f"{given}.{family}@nhs.example".lower()
            users.append(
                IdentityProviderUser(username, password, uid, given, family, email, role_dicts)
            )
        return users
    if profile == "council":
        return [
            IdentityProviderUser(
                username,
                password,
                sub,
                given,
                family,
                f"{given}.{family}@council.example".lower(),
                list(COUNCIL_ROLES[username]),
            )
            for username, (password, given, family, sub) in _COUNCIL_PEOPLE.items()
        ]
    if profile == "nhs-login":
        return nhs_login_users(population)
    raise ValueError(f"unknown profile {profile!r}")


# NHS login's demo patients: username -> (index in the population, or None for someone the
# register does not hold; identity proofing level; what they show). The first is the example
# patient, known to all five sources.
NHS_LOGIN_PATIENTS = {
    "patient": (0, "P9", "the example patient, proved to P9: sees who has looked"),
    "patient2": (1, "P9", "another patient, proved to P9"),
    "patient-p5": (3, "P5", "not yet proved to P9: a page says how to prove who they are"),
    "patient-unknown": (None, "P9", "proved to P9, but not in this record's register"),
}
NHS_LOGIN_PASSWORD = "demo-patient-2026"  # noqa: S105 (published, synthetic)


def nhs_login_users(population: Population) -> list[IdentityProviderUser]:
    """The demo's patients at the simulated NHS login: people of the population (and one whose
    NHS number the register does not hold), with the claims NHS login publishes."""
    import uuid

    users = []
    for username, (index, level, _) in NHS_LOGIN_PATIENTS.items():
        if index is not None and index >= len(population.people):
            continue
        if index is None:
            given, family, born, number = "Jordan", "Whitfield", "1988-04-12", _unheld(population)
        else:
            person = population.people[index]
            given, family = person.given_names[0], person.family_name
            born, number = person.birth_date.isoformat(), person.nhs_number
        users.append(
            IdentityProviderUser(
                username,
                NHS_LOGIN_PASSWORD,
                str(uuid.uuid5(uuid.NAMESPACE_URL, f"nhs-login-demo/{number}")),
                given,
                family,
                f"{given}.{family}@patient.example".lower(),
                nhs_number=number,
                birthdate=born,
                proofing_level=level,
            )
        )
    return users


def _unheld(population: Population) -> str:
    """A valid synthetic NHS number (999 range) that nobody in the population holds."""
    from nhs_number import calculate_checksum

    taken = {person.nhs_number for person in population.people}
    for stem in range(999_888_000, 999_889_000):
        check = calculate_checksum(str(stem))
        if check != 10 and f"{stem}{check}" not in taken:
            return f"{stem}{check}"
    raise ValueError("no free synthetic NHS number")
