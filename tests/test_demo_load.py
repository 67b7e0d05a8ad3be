"""The demo loader gives `make run` its people: every demo sign-in works as described."""

import datetime

import pytest

from access.policy import actor_for, decide
from demo.load import (
    BREAK_GLASS_USERNAME,
    DEMO_API_CLIENTS,
    DEMO_USERS,
    create_demo_api_clients,
    create_demo_relationships,
    create_demo_teams,
    create_demo_users,
    register_population,
    write_example_import,
)
from records.models import Patient

pytestmark = pytest.mark.django_db


def test_demo_clinicians_see_the_example_patient_and_the_others_do_not(population):
    from django.contrib.auth import get_user_model

    register_population(population)
    create_demo_users()
    teams = create_demo_teams(population)
    assert create_demo_relationships(population, teams) > 0
    assert create_demo_relationships(population, teams) == 0  # loading twice adds nothing

    example = Patient.objects.get(nhs_number=population.people[0].nhs_number)
    users = get_user_model().objects
    for demo in DEMO_USERS:
        user = users.get(username=demo.username)
        # Only the break-glass administrator has a password here; the others sign in at the
        # simulated identity providers with theirs.
        assert user.check_password(demo.password) == (demo.username == BREAK_GLASS_USERNAME)
        decision = decide(actor_for(user), example)
        assert decision.allowed == (demo.username in ("gp", "ae", "social")), demo.username


def test_every_demo_user_who_needs_a_second_factor_has_the_published_authenticator():
    from django.contrib.auth import get_user_model
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from demo.totp import current_code
    from lcr.signin import needs_second_factor

    create_demo_users()
    create_demo_users()  # loading twice keeps one device each
    for demo in DEMO_USERS:
        user = get_user_model().objects.get(username=demo.username)
        needs = needs_second_factor(user) or demo.role in ("administrator", "privacy_officer")
        assert needs == bool(demo.totp_key), demo.username
        devices = TOTPDevice.objects.filter(user__username=demo.username, confirmed=True)
        if demo.totp_key:
            assert devices.get().verify_token(current_code(demo.totp_key)), demo.username
        else:
            assert not devices.exists(), demo.username


def test_the_demo_partner_system_reads_the_example_patient_with_its_printed_secret(
    population, client
):
    from django.core.cache import cache

    from tests.api_helpers import bearer, token, valid_fhir

    cache.clear()
    register_population(population)
    create_demo_users()
    teams = create_demo_teams(population)
    create_demo_relationships(population, teams)
    create_demo_api_clients(teams)
    create_demo_api_clients(teams)  # loading twice adds nothing

    example = Patient.objects.get(nhs_number=population.people[0].nhs_number)
    epr = next(demo for demo in DEMO_API_CLIENTS if demo.client_id == "demo-epr")
    from access.models import ApiClient

    api = ApiClient.objects.get(application__client_id=epr.client_id)
    headers = bearer(token(client, api, epr.secret), end_user="dr.demo")
    found = client.get("/api/v1/fhir/Patient", {"identifier": example.nhs_number}, **headers)
    assert valid_fhir(found.json())["total"] == 1
    summary = client.get(f"/api/v1/fhir/Patient/{example.pk}/$summary", **headers)
    assert summary.status_code == 200
    valid_fhir(summary.json())


def test_the_demo_partner_that_signs_jwts_gets_a_token_with_its_key(
    population, client, tmp_path, settings
):
    import time
    import uuid

    from joserfc import jwt

    from demo.load import demo_signing_key

    settings.VAR_DIR = tmp_path  # its key is made here, not in the demo's own var/
    register_population(population)
    create_demo_users()
    teams = create_demo_teams(population)
    create_demo_api_clients(teams)
    create_demo_api_clients(teams)  # loading twice adds nothing

    demo = next(demo for demo in DEMO_API_CLIENTS if demo.signing_key)
    key = demo_signing_key(demo)
    now = int(time.time())
    claims = {"iss": demo.client_id, "sub": demo.client_id, "exp": now + 300,
              "aud": "http://testserver/api/oauth/token/", "jti": str(uuid.uuid4())}  # fmt: skip
    header = {"alg": "RS512", "kid": key.thumbprint()}
    assertion = jwt.encode(header, claims, key, algorithms=["RS512"])
    answer = client.post(
        "/api/oauth/token/",
        {
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        },
    )
    assert answer.status_code == 200, answer.content
    assert answer.json()["access_token"]


def test_the_demo_providers_sign_each_demo_user_in_as_their_own_account_and_team(population):
    from access.models import IdentityProvider, Membership
    from access.services.sign_in import sign_in_with_claims
    from demo.identity_provider import demo_users
    from demo.sign_in import DEMO_PROVIDERS, register_sign_in

    register_population(population)
    create_demo_users()
    teams = create_demo_teams(population)
    register_sign_in(population, teams, host="127.0.0.1", base_port=8101)
    register_sign_in(population, teams, host="127.0.0.1", base_port=8101)  # twice: the same

    expected = {demo.username: demo for demo in DEMO_USERS}
    for provider in DEMO_PROVIDERS:
        row = IdentityProvider.objects.get(slug=provider.slug)
        for person in demo_users(provider.profile, population):
            claims = {"sub": person.sub, "given_name": person.given_name, "roles": person.roles,
                      "authentication_assurance_level": "3", "amr": ["pwd", "mfa"]}  # fmt: skip
            if provider.profile == "cis2":
                claims["nhsid_nrbac_roles"] = person.roles
                claims["selected_roleid"] = person.roles[0]["person_roleid"]
                del claims["roles"]
            signed_in = sign_in_with_claims(provider=row, claims=claims)
            account = expected.get(person.username)
            if account is not None and account.signs_in_at == provider.slug:
                assert signed_in.user.username == account.username
                roles = set(Membership.objects.filter(user=signed_in.user).values_list("role"))
                assert roles == ({(account.role,)} if account.role else set()), account.username
            mapped = person.username in provider.mappings
            assert signed_in.mapped == mapped, person.username


def _load_for_privacy(population):
    from demo.audit_history import load_audit_history

    register_population(population)
    create_demo_users()
    teams = create_demo_teams(population)
    create_demo_relationships(population, teams)
    create_demo_api_clients(teams)
    return load_audit_history(population, teams)


def test_the_demo_gives_the_privacy_officer_a_history_to_review(population, tmp_path, settings):
    from io import StringIO

    from django.core.management import call_command

    from access.models import BreakGlassAccess, BreakGlassReview
    from audit.models import AccessEvent, Channel, LookUpdate, SubjectAccessRequest
    from audit.report import looks_for_patient
    from audit.review_selectors import AlertKind, alerts

    settings.VAR_DIR = tmp_path
    settings.LCR_AUDIT_CHECKPOINT_FILE = tmp_path / "audit-checkpoints.jsonl"
    history = _load_for_privacy(population)
    assert history is not None
    assert _load_for_privacy(population) is None  # loading twice adds nothing
    example = Patient.objects.get(nhs_number=history.example)

    looks = looks_for_patient(example)
    by = {look.username for look in looks}
    assert {"gp", "ae", "social", "privacy"} <= by
    assert any(look.channel_code == Channel.API and look.partner_system for look in looks)
    days = {look.occurred_at.date() for look in looks if look.username == "gp"}
    assert max(days) - min(days) >= datetime.timedelta(days=28)  # weeks of care, not one day
    emergency = [look for look in looks if look.break_glass_id]
    assert emergency and emergency[0].emergency_reason and emergency[0].emergency_explanation
    assert any(look.items_added_later for look in looks)  # a look's live updates, folded in
    example_looks = AccessEvent.objects.filter(patient=example).values("pk")
    assert LookUpdate.objects.filter(look_id__in=example_looks).count() == 2
    gp_look = next(look for look in looks if look.username == "gp")
    assert gp_look.professional_name == "Grace Okafor" and gp_look.job_role == "GP"

    access = BreakGlassAccess.objects.get(patient=example)
    assert access.review == BreakGlassAccess.Review.FLAGGED
    notes = list(BreakGlassReview.objects.filter(access=access).order_by("reviewed_at"))
    assert [review.decision for review in notes] == ["flagged", "flagged"]
    assert all(review.note for review in notes)
    assert BreakGlassAccess.objects.filter(review=BreakGlassAccess.Review.PENDING).count() >= 3

    fired = {(alert.kind, alert.username) for alert in alerts()}
    assert (AlertKind.EMERGENCY_ACCESS, "ae") in fired
    assert (AlertKind.OUT_OF_HOURS, "gp") in fired
    assert (AlertKind.SAME_POSTCODE, "social") in fired

    request = SubjectAccessRequest.objects.get(patient=example)
    assert request.looks > 5 and len(request.file_sha256) == 64
    assert AccessEvent.objects.filter(patient=example).count() == len(looks)

    out = StringIO()
    call_command("verify_audit", stdout=out)  # raises SystemExit on a broken chain
    assert "intact" in out.getvalue().lower(), out.getvalue()


def test_the_demo_example_import_checks_clean_and_imports_once(population, tmp_path, settings):
    from django.contrib.auth import get_user_model

    from access import importing

    settings.VAR_DIR = tmp_path
    register_population(population)
    create_demo_users()
    teams = create_demo_teams(population)
    create_demo_relationships(population, teams)
    data = write_example_import(population, teams).read_bytes()
    admin = get_user_model().objects.get(username="admin")

    checked = importing.check_file(data)
    first = importing.import_file(data, actor=admin)
    again = importing.import_file(data, actor=admin)

    assert [r.outcome.value for r in checked] == ["to_create"] * 5 + ["in_place"] * 2
    assert [r.outcome.value for r in first] == ["created"] * 5 + ["in_place"] * 2
    assert [r.outcome.value for r in again] == ["in_place"] * 7


def test_the_demo_loader_runs_main_only_after_defining_everything_it_calls():
    """`python -m demo.load` (make run) calls main() from its last statement: a function defined
    below that statement would not exist yet when main() runs, though importing the module (as
    the other tests here do) defines it."""
    import ast
    from pathlib import Path

    import demo.load

    tree = ast.parse(Path(demo.load.__file__).read_text())
    last = tree.body[-1]
    assert isinstance(last, ast.If) and "__main__" in ast.unparse(last.test)
    assert not any(isinstance(node, ast.If) and "__main__" in ast.unparse(node.test)
                   for node in tree.body[:-1])  # fmt: skip
