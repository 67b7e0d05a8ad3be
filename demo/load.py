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


# Synthetic demo only: these accounts exist in the local demo database and nowhere else.
DEMO_USERS = (
    DemoUser("admin", "demo-admin-2026", "administrator (Django admin, all settings)", True),
    DemoUser(
        "reviewer",
        "demo-reviewer-2026",
        "identity reviewer (links and candidate matches)",
        permissions=(
            "records.view_patient",
            "records.view_sourcesystem",
            "records.view_link",
            "records.delete_link",
            "records.view_unmatchedrecord",
            "records.change_unmatchedrecord",
            "records.view_matchcandidate",
            "records.change_matchcandidate",
            "records.view_identitysyncrun",
        ),
    ),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--patients", type=int, default=500)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--base-port", type=int, default=8101)
    options = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lcr.settings")
    import django

    django.setup()
    from demo.population import generate

    population = generate(seed=options.seed, patients=options.patients)
    created = register_population(population)
    register_sources(population, host=options.host, base_port=options.base_port)
    create_demo_users()
    print(f"Register: {created} new patients ({len(population.people)} in the demo population).")


def register_population(population) -> int:
    """Put every person of the population on the register (as the identity service knows them)."""
    from records.matching import normalise_postcode
    from records.models import Patient

    known = set(Patient.objects.values_list("nhs_number", flat=True))
    new = [
        Patient(
            nhs_number=person.nhs_number,
            prefix=person.prefix,
            given_names=" ".join(person.given_names),
            family_name=person.family_name,
            birth_date=person.birth_date,
            sex=person.sex,
            address_lines="\n".join(person.address_lines),
            city=person.city,
            postcode=normalise_postcode(person.postcode),
            phone=person.phone,
            email=person.email or "",
            gp_practice_ods_code=person.gp_practice.ods_code,
            gp_practice_name=person.gp_practice.name,
            gp_name=person.gp_name,
            date_of_death=person.deceased_date,
        )
        for person in population.people
        if person.nhs_number not in known
    ]
    for patient in new[:1]:
        patient.full_clean(validate_unique=False)
    Patient.objects.bulk_create(new, batch_size=1000)
    return len(new)


def register_sources(population, *, host: str, base_port: int) -> list:
    """One SourceSystem per simulated source, pointing at its loopback port."""
    from records.models import SourceSystem

    sources = []
    for offset, spec in enumerate(population.sources):
        source, _ = SourceSystem.objects.update_or_create(
            ods_code=spec.ods_code,
            defaults={
                "name": spec.name,
                "kind": spec.kind,
                "base_url": f"http://{host}:{base_port + offset}/fhir",
                "credentials_ref": f"demo/{spec.key}",
                "timeout_seconds": 10.0,
                "enabled": True,
            },
        )
        sources.append(source)
    return sources


def create_demo_users() -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    for demo in DEMO_USERS:
        user, _ = get_user_model().objects.update_or_create(
            username=demo.username,
            defaults={"is_staff": True, "is_superuser": demo.is_superuser, "is_active": True},
        )
        user.set_password(demo.password)
        user.save()
        for name in demo.permissions:
            app_label, codename = name.split(".")
            user.user_permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )


if __name__ == "__main__":
    main()
