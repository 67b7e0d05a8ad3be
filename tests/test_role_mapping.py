"""From an identity provider's verified claims to a user here: the selected role's organisation
and RBAC code map to exactly one team and role, re-read at every sign-in; an unmapped role sees
nothing; a sign-in weaker than the role asks is refused before anything is written. Role
mappings import from CSV idempotently, all or nothing. Password sign-in follows its setting.
"""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, override_settings
from django.urls import reverse

from access.exceptions import SignInRefused
from access.models import (
    ExternalIdentity,
    IdentityProvider,
    Membership,
    RoleMapping,
    Team,
)
from access.services.role_mappings import RoleMappingImportError, import_role_mappings
from access.services.sign_in import sign_in_with_claims
from tests.factories import UserFactory, make_team

pytestmark = pytest.mark.django_db

GP_CODE = "S8000:G8000:R8000"


@pytest.fixture
def cis2(db):
    return IdentityProvider.objects.create(
        slug="cis2", name="NHS CIS2", issuer="http://127.0.0.1:1/oidc", client_id="lcr"
    )


@pytest.fixture
def council(db):
    return IdentityProvider.objects.create(
        slug="riverside",
        name="Riverside Council",
        issuer="http://127.0.0.1:1/tenant/v2.0",
        client_id="lcr",
        default_organisation="LBR",
        claims={
            "roles": "roles",
            "assurance": "amr",
            "assurance_values": {"pwd": 1, "mfa": 2},
        },
    )


@pytest.fixture
def teams(db):
    return {
        "practice": make_team("Riverside Practice", Team.Kind.GP_PRACTICE, ods_code="F84001"),
        "ae": make_team("Thameside A&E", Team.Kind.AE_DEPARTMENT, ods_code="RXT"),
        "social": make_team("Adult social care", Team.Kind.SOCIAL_CARE_TEAM, ods_code="LBR"),
    }


def cis2_claims(*roles: tuple[str, str, str], selected: str | None = None, level: str = "3"):
    """Claims shaped as CIS2 sends them: roles as (person_roleid, org_code, role_code)."""
    return {
        "sub": "910000000001",
        "given_name": "Asha",
        "family_name": "Patel",
        "email": "asha.patel@nhs.invalid",
        "authentication_assurance_level": level,
        "selected_roleid": selected if selected is not None else roles[0][0] if roles else "",
        "nhsid_nrbac_roles": [
            {"person_roleid": rid, "org_code": org, "role_code": code, "role_name": '"Clinical"'}
            for rid, org, code in roles
        ],
    }


def test_the_selected_role_maps_to_its_team_and_role(cis2, teams):
    RoleMapping.objects.create(
        provider=cis2, organisation="F84001", rbac_code="R8000", team=teams["practice"], role="gp"
    )
    claims = cis2_claims(("555", "F84001", GP_CODE), ("556", "RXT", "S8000:G8000:R8001"))

    signed_in = sign_in_with_claims(provider=cis2, claims=claims)

    assert signed_in.mapped and signed_in.assurance == 3
    assert [(m.team, m.role) for m in Membership.objects.filter(user=signed_in.user)] == [
        (teams["practice"], "gp")
    ]
    assert signed_in.user.first_name == "Asha" and not signed_in.user.has_usable_password()
    assert ExternalIdentity.objects.get(subject="910000000001").user == signed_in.user


def test_someone_who_moved_jobs_loses_the_old_teams_patients_at_their_next_sign_in(cis2, teams):
    for org, team, role in (("F84001", "practice", "gp"), ("RXT", "ae", "ae_clinician")):
        RoleMapping.objects.create(
            provider=cis2, organisation=org, rbac_code="R8000", team=teams[team], role=role
        )
    first = sign_in_with_claims(provider=cis2, claims=cis2_claims(("555", "F84001", GP_CODE)))
    again = sign_in_with_claims(provider=cis2, claims=cis2_claims(("777", "RXT", GP_CODE)))

    assert again.user == first.user
    assert [(m.team, m.role) for m in Membership.objects.filter(user=first.user)] == [
        (teams["ae"], "ae_clinician")
    ]
    assert not first.user.groups.filter(pk=teams["practice"].group_id).exists()


def test_an_unmapped_role_signs_in_to_no_team(cis2, teams):
    RoleMapping.objects.create(
        provider=cis2, organisation="F84001", rbac_code="R8000", team=teams["practice"], role="gp"
    )
    sign_in_with_claims(provider=cis2, claims=cis2_claims(("555", "F84001", GP_CODE)))

    student = sign_in_with_claims(
        provider=cis2, claims=cis2_claims(("555", "F84001", "S8000:G8000:R8004"))
    )

    assert not student.mapped
    assert student.role.rbac_code == "R8004"
    assert not Membership.objects.filter(user=student.user).exists()


def test_a_sign_in_weaker_than_the_role_asks_is_refused_and_changes_nothing(cis2, teams):
    RoleMapping.objects.create(
        provider=cis2, organisation="F84001", rbac_code="R8000", team=teams["practice"], role="gp"
    )
    users = get_user_model().objects.count()

    with pytest.raises(SignInRefused) as refused:
        sign_in_with_claims(
            provider=cis2, claims=cis2_claims(("555", "F84001", GP_CODE), level="2")
        )

    assert refused.value.code == "assurance" and "smartcard" in refused.value.message
    assert get_user_model().objects.count() == users
    assert not Membership.objects.exists()


def test_several_roles_and_none_selected_is_refused(cis2, teams):
    claims = cis2_claims(("1", "F84001", GP_CODE), ("2", "RXT", GP_CODE), selected="")
    with pytest.raises(SignInRefused) as refused:
        sign_in_with_claims(provider=cis2, claims=claims)
    assert refused.value.code == "no-selected-role"


def test_a_councils_app_roles_map_at_its_own_organisation_with_two_factors(council, teams):
    RoleMapping.objects.create(
        provider=council,
        organisation="LBR",
        rbac_code="SocialWorker",
        team=teams["social"],
        role="social_worker",
    )
    claims = {"sub": "oid-1", "name": "Sam Okoro", "roles": ["SocialWorker"], "amr": ["pwd"]}
    with pytest.raises(SignInRefused):
        sign_in_with_claims(provider=council, claims=claims)

    signed_in = sign_in_with_claims(provider=council, claims={**claims, "amr": ["pwd", "mfa"]})

    assert signed_in.assurance == 2
    assert Membership.objects.get(user=signed_in.user).role == "social_worker"


def test_a_switched_off_user_is_refused(cis2, teams):
    first = sign_in_with_claims(provider=cis2, claims=cis2_claims(("555", "F84001", GP_CODE)))
    first.user.is_active = False
    first.user.save()
    with pytest.raises(SignInRefused) as refused:
        sign_in_with_claims(provider=cis2, claims=cis2_claims(("555", "F84001", GP_CODE)))
    assert refused.value.code == "switched-off"


CSV = """provider,organisation,rbac_code,role_name,team_ods_code,role
cis2,F84001,R8000,Clinical Practitioner Access Role,F84001,gp
cis2,RXT,R8000,Clinical Practitioner Access Role,RXT,ae_clinician
"""


def test_role_mappings_import_idempotently(cis2, teams):
    actor = UserFactory(username="importer")
    assert import_role_mappings(text=CSV, actor=actor).created == 2
    again = import_role_mappings(text=CSV, actor=actor)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)

    changed = import_role_mappings(text=CSV.replace("RXT,ae_clinician", "RXT,gp"), actor=actor)

    assert (changed.updated, changed.unchanged) == (1, 1)
    assert RoleMapping.objects.get(organisation="RXT").role == "gp"


def test_a_role_mapping_file_with_one_bad_row_imports_nothing(cis2, teams):
    bad = CSV + "cis2,RXT,R8001,Nurse,NOWHERE,surgeon\n"
    with pytest.raises(RoleMappingImportError) as error:
        import_role_mappings(text=bad, actor=UserFactory(username="importer"))
    assert any("line 4: no single team 'NOWHERE'" in p for p in error.value.problems)
    assert any("line 4: no role 'surgeon'" in p for p in error.value.problems)
    assert not RoleMapping.objects.exists()


@pytest.mark.parametrize(
    ("mode", "ordinary", "superuser"),
    [("off", False, False), ("break-glass", False, True), ("everyone", True, True)],
)
def test_password_sign_in_follows_its_setting(client, mode, ordinary, superuser):
    for username, is_superuser in (("clinician", False), ("breakglass", True)):
        user = UserFactory(username=username, is_superuser=is_superuser)
        user.set_password("a-long-password-2026")
        user.save()
    with override_settings(LCR_PASSWORD_SIGN_IN=mode):
        for username, allowed in (("clinician", ordinary), ("breakglass", superuser)):
            client.logout()
            client.post(
                reverse("login"), {"username": username, "password": "a-long-password-2026"}
            )
            assert ("_auth_user_id" in client.session) == allowed, (mode, username)


def test_the_sign_in_page_offers_each_active_provider_and_hides_passwords_when_off(
    client, cis2, council
):
    council.active = False
    council.save()
    with override_settings(LCR_PASSWORD_SIGN_IN="off"):
        page = client.get(reverse("login")).content.decode()
    assert "Sign in with NHS CIS2" in page and "Riverside Council" not in page
    assert 'name="password"' not in page
    with override_settings(LCR_PASSWORD_SIGN_IN="break-glass"):
        page = client.get(reverse("login")).content.decode()
    assert "Break-glass administrator sign-in" in page and 'name="password"' in page


def test_deploy_checks_warn_of_passwords_for_everyone_and_of_a_provider_without_a_key(
    cis2, settings
):
    from access.checks import staff_sign_in_through_identity_providers

    settings.LCR_PASSWORD_SIGN_IN, settings.LCR_OIDC_PRIVATE_KEY = "everyone", ""
    assert {w.id for w in staff_sign_in_through_identity_providers(None)} == {
        "access.W001",
        "access.W002",
    }
    settings.LCR_PASSWORD_SIGN_IN, settings.LCR_OIDC_PRIVATE_KEY = "off", "a key"
    assert staff_sign_in_through_identity_providers(None) == []


def test_the_rows_of_sessions_that_ended_without_a_sign_out_are_forgotten(client, cis2):
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    from access.models import SignInSession
    from access.tasks import forget_expired_sign_ins

    user = UserFactory(username="someone")
    client.force_login(user)
    live = SignInSession.objects.create(
        user=user, provider=cis2, session_key=client.session.session_key
    )
    SignInSession.objects.create(user=user, provider=cis2, session_key="gone-long-ago")
    other = Client()
    other.force_login(UserFactory(username="another"))
    expired = other.session.session_key
    Session.objects.filter(session_key=expired).update(expire_date=timezone.now())
    SignInSession.objects.create(user=user, provider=cis2, session_key=expired)

    assert forget_expired_sign_ins()["sessions"] == 2
    assert list(SignInSession.objects.all()) == [live]
