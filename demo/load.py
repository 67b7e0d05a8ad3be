"""Load the demo into the database: the identity register, the five simulated sources, demo users.

The register is what the national identity service would hold for the synthetic population; the
links between it and the sources are made by identity sync, exactly as in production.
"""

import argparse
import os
from dataclasses import dataclass


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    description: str
    is_superuser: bool = False
    permissions: tuple[str, ...] = ()
    team: str = ""  # a key of DEMO_TEAMS
    role: str = ""
    is_staff: bool = True
    # Administrators, privacy officers and staff sign in with a second factor: the demo gives them
    # an authenticator whose key is published here (`python -m demo.totp` prints its codes).
    totp_key: str = ""
    # The simulated identity provider they sign in at (demo/sign_in.py), as the user it knows;
    # `password` is theirs there. Only the break-glass administrator has a password here.
    signs_in_at: str = "cis2"


@dataclass(frozen=True)
class DemoApiClient:
    client_id: str
    secret: str  # "" for a client that signs JWTs instead of holding a secret
    description: str
    team: str  # a key of DEMO_TEAMS
    role: str
    scopes: tuple[str, ...]
    # A client authenticating with a signed JWT (private_key_jwt, docs/api.md): its private key
    # is made on first load in this file under var/ (never committed); only the public key is
    # registered, so its kid is the key's thumbprint.
    signing_key: str = ""


# Teams of the demo: key -> (name, ODS code, kind). The GP practice is the example patient's own.
DEMO_TEAMS = {
    "gp": ("{practice}", "{practice_ods}", "gp_practice"),
    "ae": ("Thameside A&E", "RXT", "ae_department"),
    "social": ("Riverside Adult Social Care", "LBR", "social_care_team"),
    "office": ("Shared care record office", "LCR01", "record_office"),
}

# What the identity reviewers may do (records.permissions): review source records, unlink, and
# merge and undo merges, in the portal's identity pages; and read the register in the admin.
IDENTITY_REVIEWER_PERMISSIONS = (
    "records.view_patient",
    "records.view_sourcesystem",
    "records.view_link",
    "records.delete_link",
    "records.view_unmatchedrecord",
    "records.change_unmatchedrecord",
    "records.view_matchcandidate",
    "records.change_matchcandidate",
    "records.view_identitysyncrun",
    "records.view_patientmerge",
    "records.add_patientmerge",
    "records.change_patientmerge",
    "records.view_patientmergerequest",
)

# Synthetic demo only: these accounts exist in the local demo database and nowhere else.
DEMO_USERS = (
    DemoUser("gp", "demo-gp-2026", "GP at the example patient's practice", team="gp", role="gp",
             is_staff=False),
    DemoUser("ae", "demo-ae-2026", "A&E clinician (may use emergency access)", team="ae",
             role="ae_clinician", is_staff=False),
    DemoUser("social", "demo-social-2026", "social worker", team="social", role="social_worker",
             is_staff=False, signs_in_at="riverside"),
    DemoUser("admin", "demo-admin-2026", "administrator (care relationships, Django admin)", True,
             team="office", role="administrator",
             totp_key="64656d6f2d61646d696e2d746f74702d6b65792d"),
    DemoUser(
        "privacy",
        "demo-privacy-2026",
        "privacy officer (reviews emergency access)",
        team="office",
        role="privacy_officer",
        permissions=("access.view_breakglassaccess", "access.change_breakglassaccess"),
        totp_key="64656d6f2d707269766163792d746f74702d6b65",
    ),
    DemoUser(
        "reviewer",
        "demo-reviewer-2026",
        "identity reviewer (reviews source records, merges: /identity/)",
        totp_key="64656d6f2d72657669657765722d746f74702d6b",
        permissions=IDENTITY_REVIEWER_PERMISSIONS,
    ),
    # A second reviewer: a merge of records that differ needs someone other than who asked.
    DemoUser(
        "checker",
        "demo-checker-2026",
        "second identity reviewer (approves the reviewer's merges)",
        totp_key="64656d6f2d636865636b65722d746f74702d6b65",
        permissions=IDENTITY_REVIEWER_PERMISSIONS,
    ),
)  # fmt: skip


# The one account that signs in with a password (LCR_PASSWORD_SIGN_IN=break-glass), and its
# second factor: for when the identity providers cannot be reached.
BREAK_GLASS_USERNAME = "admin"

# Partner systems of the demo (docs/api.md shows them at work with curl). Synthetic demo only.
DEMO_API_CLIENTS = (
    DemoApiClient("demo-epr", "demo-epr-secret-2026", "the practice's EPR (reads records)",
                  "gp", "gp", ("patient.read",)),
    DemoApiClient("demo-admin-system", "demo-admin-secret-2026", "starts and ends relationships",
                  "office", "administrator", ("relationship.write",)),
    DemoApiClient("demo-privacy-system", "demo-privacy-secret-2026", "reads access reports",
                  "office", "privacy_officer", ("audit.read",)),
    DemoApiClient("demo-jwt-epr", "", "the A&E EPR, signing JWTs (private_key_jwt)",
                  "ae", "ae_clinician", ("patient.read",), signing_key="demo-jwt-epr.key"),
)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--patients", type=int, default=500)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--base-port", type=int, default=8101)
    parser.add_argument(
        "--fhir-r4-gp",
        action="store_true",
        help="register the GP practices as FHIR R4 search, not GP Connect",
    )
    options = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lcr.settings")
    import django

    django.setup()
    from demo.population import generate

    population = generate(seed=options.seed, patients=options.patients)
    created = register_population(population)
    if register_duplicate_entry(population) is not None:
        print("Register: one person registered twice (date of birth keyed differently), to merge.")
    register_sources(
        population,
        host=options.host,
        base_port=options.base_port,
        gp_connect=not options.fhir_r4_gp,
    )
    create_demo_users()
    teams = create_demo_teams(population)
    from demo.sign_in import register_sign_in

    register_sign_in(population, teams, host=options.host, base_port=options.base_port)
    related = create_demo_relationships(population, teams)
    create_demo_api_clients(teams)
    from demo.audit_history import load_audit_history

    if load_audit_history(population, teams) is not None:
        print("Audit trail: weeks of looks at the example patient, for the privacy officer.")
    print(f"Care relationships: {related} new.")
    example_import = write_example_import(population, teams)
    print(f"Relationship import (as admin, /manage/relationships/import/): try {example_import}")
    print(f"Register: {created} new patients ({len(population.people)} in the demo population).")


def register_population(population) -> int:
    """Put every person of the population on the register (as the identity service knows them:
    a person PDS restricts with the label and none of their contact details)."""
    from demo.population import restricted_people
    from records.confidentiality import Confidentiality
    from records.matching import normalise_postcode
    from records.models import Patient

    known = set(Patient.objects.values_list("nhs_number", flat=True))
    restricted = {person.index for person in restricted_people(population)}

    def contact(person) -> dict:
        # bulk_create does not call Patient.save: a restricted person's details are left out
        # here (and the database would refuse them).
        if person.index in restricted:
            return {"confidentiality": Confidentiality.RESTRICTED}
        return {
            "address_lines": "\n".join(person.address_lines),
            "city": person.city,
            "postcode": normalise_postcode(person.postcode),
            "phone": person.phone,
            "email": person.email or "",
            "gp_practice_ods_code": person.gp_practice.ods_code,
            "gp_practice_name": person.gp_practice.name,
            "gp_name": person.gp_name,
        }

    new = [
        Patient(
            nhs_number=person.nhs_number,
            prefix=person.prefix,
            given_names=" ".join(person.given_names),
            family_name=person.family_name,
            birth_date=person.birth_date,
            sex=person.sex,
            date_of_death=person.deceased_date,
            **contact(person),
        )
        for person in population.people
        if person.nhs_number not in known
    ]
    for patient in new[:1]:
        patient.full_clean(validate_unique=False)
    Patient.objects.bulk_create(new, batch_size=1000)
    return len(new)


def register_duplicate_entry(population):
    """A second register entry for the person whose social care record carries no NHS number
    (demo/population.py's person 1), under another NHS number and with their date of birth
    keyed with the day and month swapped (or a day out): the identity review page offers both
    entries for that record, and merging them shows the warning and needs a second reviewer's
    approval. Idempotent; returns the entry it made, or None."""
    import datetime

    from nhs_number import calculate_checksum

    from records.models import Patient

    if len(population.people) < 2:
        return None
    person = population.people[1]
    original = Patient.objects.filter(nhs_number=person.nhs_number).first()
    if (
        original is None
        or Patient.objects.filter(
            given_names=original.given_names, family_name=original.family_name
        )
        .exclude(pk=original.pk)
        .exists()
    ):
        return None
    born = original.birth_date
    if born.day <= 12 and born.day != born.month:
        slipped = born.replace(day=born.month, month=born.day)
    else:
        slipped = born + datetime.timedelta(days=-1 if born.day > 1 else 1)
    taken = set(Patient.objects.values_list("nhs_number", flat=True))
    stem = 999_999_000
    while f"{stem}{calculate_checksum(str(stem))}" in taken or calculate_checksum(str(stem)) == 10:
        stem += 1
    duplicate = Patient(
        nhs_number=f"{stem}{calculate_checksum(str(stem))}",
        **{
            field.attname: getattr(original, field.attname)
            for field in Patient._meta.concrete_fields
            if field.attname not in ("id", "nhs_number", "birth_date", "created_at", "updated_at")
        },
        birth_date=slipped,
    )
    duplicate.save()
    return duplicate


def register_sources(
    population,
    *,
    host: str = "127.0.0.1",
    base_port: int = 0,
    servers: list | None = None,
    gp_connect: bool = False,
) -> list:
    """One SourceSystem per simulated source, pointing at its loopback port: consecutive ports
    from `base_port`, or the addresses of simulated sources already started (`servers`). Its
    interface is GP Connect for the GP practices when they speak it (`gp_connect`, or a
    simulated GP Connect provider among `servers`), else FHIR R4 search."""
    from demo.gp_connect import SimulatedGpConnectProvider
    from records.models import SourceSystem
    from records.source_urls import validate_source_base_url

    sources = []
    for offset, spec in enumerate(population.sources):
        speaks_gp_connect = gp_connect and spec.key == "gp"
        if servers is not None:
            base_url = servers[offset].base_url
            speaks_gp_connect = isinstance(servers[offset], SimulatedGpConnectProvider)
        else:
            base_url = f"http://{host}:{base_port + offset}/fhir"
        interface = (
            SourceSystem.Interface.GP_CONNECT_STRUCTURED
            if speaks_gp_connect
            else SourceSystem.Interface.FHIR_R4_SEARCH
        )
        validate_source_base_url(base_url)  # the sources' ports must not be the portal's own
        source, _ = SourceSystem.objects.update_or_create(
            ods_code=spec.ods_code,
            defaults={
                "name": spec.name,
                "kind": spec.kind,
                "base_url": base_url,
                "credentials_ref": f"demo/{spec.key}",
                "timeout_seconds": 10.0,
                "enabled": True,
                "interface": interface,
            },
        )
        sources.append(source)
    return sources


def create_demo_users() -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from demo.identity_provider_users import person_names

    names = person_names()
    for demo in DEMO_USERS:
        # Named as their identity provider names them (it would on their first sign-in anyway),
        # so that the demo's access reports read as a patient's would.
        given, family = names.get(demo.username, (demo.username.capitalize(), "(demo)"))
        user, _ = get_user_model().objects.update_or_create(
            username=demo.username,
            defaults={
                "is_staff": demo.is_staff,
                "is_superuser": demo.is_superuser,
                "is_active": True,
                "email": f"{demo.username}@demo.invalid",
                "first_name": given,
                "last_name": family,
            },
        )
        if demo.username == BREAK_GLASS_USERNAME:
            user.set_password(demo.password)
        else:
            user.set_unusable_password()
        user.save()
        for name in demo.permissions:
            app_label, codename = name.split(".")
            user.user_permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
        if demo.totp_key:
            TOTPDevice.objects.update_or_create(
                user=user,
                name="Demo authenticator",
                defaults={"key": demo.totp_key, "confirmed": True},
            )


def create_demo_teams(population) -> dict:
    """The demo teams, with the demo users in them (idempotent)."""
    from django.contrib.auth import get_user_model

    from access.models import Team
    from access.services import add_member, create_team
    from records.services import system_user

    practice = population.people[0].gp_practice
    setup = get_user_model().objects.get(username="admin")
    teams = {}
    for key, (name, ods_code, kind) in DEMO_TEAMS.items():
        name = name.format(practice=practice.name)
        ods_code = ods_code.format(practice_ods=practice.ods_code)
        team = Team.objects.filter(ods_code=ods_code, name=name).first()
        teams[key] = team or create_team(name=name, ods_code=ods_code, kind=kind, actor=setup)
    # Nobody puts themselves in a team, the demo's administrator included: the demo's setup does.
    loader = system_user("system.demo", "Demo setup")
    for demo in DEMO_USERS:
        if demo.team:
            user = get_user_model().objects.get(username=demo.username)
            add_member(
                team=teams[demo.team], user=user, role=demo.role, reason="demo", actor=loader
            )
    return teams


def demo_signing_key(demo: DemoApiClient):
    """The demo client's RSA private key under var/, made on first use (never committed)."""
    from django.conf import settings
    from joserfc import jwk

    path = settings.VAR_DIR / demo.signing_key
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(jwk.RSAKey.generate_key(2048, private=True).as_pem(private=True))
        path.chmod(0o600)
    return jwk.RSAKey.import_key(path.read_bytes())


def create_demo_api_clients(teams: dict) -> None:
    """The demo's partner systems, each for a demo team (idempotent; a signing client's
    registered public key follows its key file, should var/ have been emptied)."""
    from django.contrib.auth import get_user_model

    from access.client_assertions import public_key_set
    from access.models import ApiClient
    from access.services import register_api_client

    setup = get_user_model().objects.get(username="admin")
    for demo in DEMO_API_CLIENTS:
        keys = {}
        if demo.signing_key:
            keys = {"public_jwks": demo_signing_key(demo).as_pem(private=False)}
        existing = ApiClient.objects.filter(application__client_id=demo.client_id).first()
        if existing is None:
            register_api_client(
                name=demo.description, team=teams[demo.team], role=demo.role,
                scopes=list(demo.scopes), actor=setup, client_id=demo.client_id,
                client_secret=demo.secret, **keys,
            )  # fmt: skip
        elif keys:
            existing.public_jwks = public_key_set(keys["public_jwks"])
            existing.save(update_fields=["public_jwks"])


def create_demo_relationships(population, teams: dict) -> int:
    """Who cares for whom: the practice for its registered patients, A&E for a few attending
    today, social care for the people it supports. The example patient is in all three."""
    import datetime

    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from access.models import CareRelationship
    from access.services import start_relationship
    from records.models import Patient

    setup = get_user_model().objects.get(username="admin")
    example = population.people[0]
    wanted = {
        "gp": [p for p in population.people if p.gp_practice == example.gp_practice],
        "ae": [example, *population.people[2:40:9]],
        "social": [p for p in population.people_at("social_care")][:40],
    }
    kinds = {"gp": "registered_gp", "ae": "current_episode", "social": "social_care_case"}
    reasons = {"gp": "registered at the practice", "ae": "attending A&E", "social": "open case"}
    # Registered and supported for a while (the demo's trail has weeks of their looks); A&E's
    # episode is today's.
    today = timezone.localdate()
    starts = {"gp": today - datetime.timedelta(days=730), "ae": today,
              "social": today - datetime.timedelta(days=120)}  # fmt: skip
    # An A&E episode is short: it ends within days (the administrator's home lists it).
    ends = {"ae": today + datetime.timedelta(days=3)}
    patients = {p.nhs_number: p for p in Patient.objects.all()}
    created = 0
    for key, people in wanted.items():
        team = teams[key]
        already = set(
            CareRelationship.objects.filter(team=team, ended_at__isnull=True).values_list(
                "patient__nhs_number", flat=True
            )
        )
        for person in people:
            if person.nhs_number in already or person.nhs_number not in patients:
                continue
            start_relationship(
                patient=patients[person.nhs_number],
                team=team,
                kind=kinds[key],
                reason=reasons[key],
                actor=setup,
                starts_on=starts[key],
                ends_on=ends.get(key),
            )
            created += 1
    return created


def write_example_import(population, teams: dict):
    """A CSV file for the administrator's relationship import (var/example-relationships.csv):
    district nursing referrals for a few people, dates typed as people type them, and two rows
    the demo already has in place (the social care cases of the example patient and another),
    so that its check shows both outcomes and importing it twice creates nothing the second
    time. Written through records.safe_csv, as every CSV the product writes."""
    import datetime

    from django.conf import settings
    from django.utils import timezone

    from records.safe_csv import csv_lines

    social = teams["social"]
    supported = [p for p in population.people_at("social_care")][:2]
    today = timezone.localdate()
    rows = [["nhs_number", "team_ods_code", "team_name", "kind", "starts_on", "ends_on", "reason"]]
    ends = f"{today + datetime.timedelta(days=365):%-d %B %Y}"
    for n, person in enumerate(population.people[1:6]):
        starts = (f"{today:%-d/%m/%Y}", f"{today:%d-%m-%Y}", f"{today:%-d %b %Y}", "", "")[n]
        rows.append([person.nhs_number, social.ods_code, social.name, "referral", starts, ends,
                     "Referred for an assessment"])  # fmt: skip
    for person in supported:
        rows.append([person.nhs_number, social.ods_code, social.name, "social_care_case", "", "",
                     "Open case"])  # fmt: skip
    path = settings.VAR_DIR / "example-relationships.csv"
    path.write_text("".join(csv_lines(rows)), encoding="utf-8")
    return path


if __name__ == "__main__":
    main()
