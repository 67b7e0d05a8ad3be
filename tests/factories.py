"""factory-boy factories for the identity register: valid by default, overridable per test."""

import datetime

import factory
import nhs_number
from django.contrib.auth import get_user_model
from django.utils import timezone

from records.models import Link, MatchMethod, Patient, Sex, SourceSystem


def synthetic_nhs_number(n: int) -> str:
    """The n-th valid NHS number in the 999 synthetic range (skipping impossible check digits)."""
    candidate = 999_000_000 + n * 7
    while True:
        stem = str(candidate)
        check = nhs_number.calculate_checksum(stem)
        if check != 10:
            return f"{stem}{check}"
        candidate += 1


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = "Test"
    last_name = factory.Sequence(lambda n: f"User{n}")


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    nhs_number = factory.Sequence(synthetic_nhs_number)
    given_names = "Amelia"
    family_name = factory.Sequence(lambda n: f"Person{n}")
    birth_date = datetime.date(1950, 3, 4)
    sex = Sex.FEMALE
    address_lines = "1 High Street"
    city = "London"
    postcode = "E8 1AA"


class SourceSystemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SourceSystem

    ods_code = factory.Sequence(lambda n: f"R{n:04d}")
    name = factory.Sequence(lambda n: f"Test Source {n}")
    kind = SourceSystem.Kind.ACUTE
    base_url = "http://127.0.0.1:9/fhir"
    timeout_seconds = 2.0


class LinkFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Link

    patient = factory.SubFactory(PatientFactory)
    source = factory.SubFactory(SourceSystemFactory)
    local_id = factory.Sequence(lambda n: f"LOCAL-{n}")
    matched_by = MatchMethod.NHS_NUMBER
    confirmed_at = factory.LazyFunction(timezone.now)


def make_team(name: str, kind: str, *, ods_code: str = "X1"):
    """A team made the way the product makes them (with its own group)."""
    from access.services import create_team

    return create_team(name=name, ods_code=ods_code, kind=kind, actor=UserFactory(username="setup"))


def member(team, role: str, username: str | None = None):
    """A user in `team` with `role`, as a signed-in professional would be."""
    from access.services import add_member

    user = UserFactory(username=username or f"{role}-{team.pk}")
    add_member(
        team=team, user=user, role=role, reason="test setup", actor=UserFactory(username="setup")
    )
    return user


def a_look(patient, user):
    """One access event, written as a look at the patient's allergies would write it."""
    from audit.services import RequestContext, record_access

    return record_access(
        user=user,
        team=None,
        role="gp",
        patient=patient,
        categories=("allergies",),
        resource_ids=[],
        basis="relationship",
        relationship_id=None,
        break_glass_id=None,
        channel="web",
        purpose="direct_care",
        context=RequestContext(),
    )


def ed25519_key() -> tuple[str, str]:
    """A fresh Ed25519 key pair as PEM text: (private, public), as an audit signing key is kept."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private.decode(), public.decode()


def identity_reviewer(username: str = "identity-reviewer", *, merges: bool = True):
    """A staff user in no team with the identity reviewer's permissions (demo/load.py's), and
    the merge permissions too unless `merges` is False."""
    from django.contrib.auth.models import Permission

    from demo.load import IDENTITY_REVIEWER_PERMISSIONS

    user = UserFactory(username=username, is_staff=True, first_name=username.title())
    wanted = [
        name
        for name in IDENTITY_REVIEWER_PERMISSIONS
        if merges or name not in ("records.add_patientmerge", "records.change_patientmerge")
    ]
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="records",
            codename__in=[name.split(".")[1] for name in wanted],
        )
    )
    return get_user_model().objects.get(pk=user.pk)  # without the cached permissions


def merged(kept, retired, *, actor, reason: str = "same person"):
    """Merge two register entries as the rules allow: asked by `actor`, and (as any two entries
    with their own NHS numbers differ) approved by a second reviewer. Returns the merge."""
    from records import services

    asked = services.request_merge(kept=kept, retired=retired, reason=reason, actor=actor)
    second = get_user_model().objects.filter(
        username="second-reviewer"
    ).first() or identity_reviewer("second-reviewer")
    return services.approve_merge_request(request=asked, reason="checked", actor=second)
