"""Django admin for access control. Memberships, relationships, grants and objections change only
through the access services (the pages under /manage/), so here they are read-only; the guardian
permission tables are not in the admin at all. Nothing here takes over a sign-in or an API client:
users are read-only but for switching their sign-in off (no new users, no passwords, flags or
groups), authenticators can only be deleted, and django-oauth-toolkit's pages are gone."""

from collections.abc import Iterable

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from django_otp.plugins.otp_totp.models import TOTPDevice
from oauth2_provider import models as oauth2_models

from access import services
from access.client_assertions import (
    JWKS_MAX_BYTES,
    ClientKeyError,
    check_jwks_uri,
    public_key_set,
)
from access.models import (
    ApiClient,
    BreakGlassAccess,
    CareRelationship,
    ClinicalSystem,
    IdentityProvider,
    Membership,
    Objection,
    RoleMapping,
    RolePolicy,
    SensitiveCode,
    SensitiveCodeSet,
    SignInSession,
    StaffProfile,
    Team,
)
from access.services.sessions import end_sessions
from records.admin import ReadOnlyAdmin, ReadOnlyInline, ShowsPatients
from records.models import Patient


class MembershipInline(ReadOnlyInline):
    """Who is in the team, to read: memberships are added and ended at /manage/teams/, with a
    reason, and never by the person themselves."""

    model = Membership
    fields = ["user", "role"]


@admin.register(StaffProfile)
class StaffProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "home_postcode", "shown_to_patients_by_role_only"]
    list_filter = ["shown_to_patients_by_role_only"]
    search_fields = ["user__username", "user__last_name"]
    autocomplete_fields = ["user"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "ods_code", "kind"]
    list_filter = ["kind"]
    search_fields = ["name", "ods_code"]
    readonly_fields = ["group"]
    inlines = [MembershipInline]

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            created = services.create_team(
                name=obj.name, ods_code=obj.ods_code, kind=obj.kind, actor=request.user
            )
            obj.pk, obj.group = created.pk, created.group
            return
        super().save_model(request, obj, form, change)


@admin.register(RolePolicy)
class RolePolicyAdmin(ReadOnlyAdmin):
    list_display = [
        "role",
        "categories",
        "sees_sensitive_sources",
        "sensitivities",
        "sensitivities_in_emergency",
        "may_break_glass",
        "manages_relationships",
        "reviews_break_glass",
    ]


class SensitiveCodeInline(ReadOnlyInline):
    model = SensitiveCode
    fields = ["system", "code", "display"]


@admin.register(SensitiveCodeSet)
class SensitiveCodeSetAdmin(ReadOnlyAdmin):
    """The code sets that make an item sensitive, with where each comes from, to read: they are
    changed by a migration, like the role policy, so every change is reviewed."""

    list_display = ["name", "sensitivity", "as_of", "source"]
    list_filter = ["sensitivity"]
    inlines = [SensitiveCodeInline]


@admin.register(CareRelationship)
class CareRelationshipAdmin(ShowsPatients, ReadOnlyAdmin):
    list_display = ["patient", "team", "user", "kind", "starts_on", "ends_on", "ended_at"]
    list_filter = ["kind", "team"]
    list_select_related = ["patient", "team", "user"]
    search_fields = ["=patient__nhs_number"]
    show_full_result_count = False

    def patients_on(self, objects: Iterable[CareRelationship]) -> Iterable[Patient]:
        return [relationship.patient for relationship in objects]


@admin.register(Objection)
class ObjectionAdmin(ShowsPatients, ReadOnlyAdmin):
    list_display = [
        "patient", "recorded_at", "recorded_by", "recorded_by_patient", "withdrawn_at",
        "withdrawn_by_patient",
    ]  # fmt: skip
    list_select_related = ["patient", "recorded_by"]

    def patients_on(self, objects: Iterable[Objection]) -> Iterable[Patient]:
        return [objection.patient for objection in objects]


@admin.register(BreakGlassAccess)
class BreakGlassAccessAdmin(ShowsPatients, ReadOnlyAdmin):
    """Emergency accesses, to read. They are reviewed on the privacy officers' pages
    (/audit/break-glass/), one at a time with a note: a decision in bulk here would say nothing
    of why."""

    list_display = ["started_at", "user", "team", "patient", "reason", "explanation", "review"]
    list_filter = ["review", "reason"]
    list_select_related = ["user", "team", "patient"]

    def patients_on(self, objects: Iterable[BreakGlassAccess]) -> Iterable[Patient]:
        return [access.patient for access in objects]


class ApiClientForm(forms.ModelForm):
    jwks_uri = forms.URLField(
        label="JWKS URL",
        required=False,
        assume_scheme="https",
        help_text="Where the partner publishes its public keys, for signed JWTs.",
    )
    public_key_file = forms.FileField(
        label="Upload a public key",
        required=False,
        help_text="A JWKS (JSON) or a PEM public key; replaces the public keys above. Never the "
        "private key: it stays with the partner system.",
    )

    def clean_jwks_uri(self) -> str:
        url = self.cleaned_data["jwks_uri"]
        return _key_checked(check_jwks_uri, url) if url else ""

    def clean_public_jwks(self) -> dict | None:
        keys = self.cleaned_data["public_jwks"]
        return _key_checked(public_key_set, keys) if keys else None

    def clean(self) -> dict:
        """An uploaded file replaces the keys; a client has a JWKS URL or keys, not both (two
        places would leave unclear which one a key rotation must change)."""
        cleaned = super().clean()
        upload = cleaned.get("public_key_file")
        if upload:
            if upload.size > JWKS_MAX_BYTES:
                raise forms.ValidationError({"public_key_file": "Too large for a public key."})
            try:
                cleaned["public_jwks"] = public_key_set(upload.read())
            except ClientKeyError as error:
                raise forms.ValidationError({"public_key_file": str(error)}) from error
        if cleaned.get("jwks_uri") and cleaned.get("public_jwks"):
            raise forms.ValidationError("Give a JWKS URL or public keys, not both.")
        return cleaned

    def clean_scopes(self) -> list[str]:
        """A list of known scopes, as register_api_client makes it. JSON would take anything:
        a string (which `in` would then search for substrings) or a NUL that PostgreSQL's JSON
        cannot hold."""
        scopes = self.cleaned_data["scopes"]
        known = ApiClient.Scope.values
        if not (isinstance(scopes, list) and scopes and all(scope in known for scope in scopes)):
            raise forms.ValidationError(f"A list of one or more of: {', '.join(known)}.")
        return sorted(set(scopes))


def _key_checked(check, value):
    try:
        return check(value)
    except ClientKeyError as error:
        raise forms.ValidationError(str(error)) from error


@admin.register(ApiClient)
class ApiClientAdmin(admin.ModelAdmin):
    """Partner systems: registered with access.services.register_api_client (docs/api.md); here
    an administrator can see them, change their scopes, rate or public keys (a JWKS URL or an
    uploaded public key, for signed JWTs), and switch one off."""

    form = ApiClientForm

    list_display = ["name", "team", "role", "active", "rate"]
    list_filter = ["active", "role"]
    search_fields = ["name", "application__client_id"]
    readonly_fields = ["application", "team", "role", "service_user", "created_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class UserActiveForm(forms.ModelForm):
    class Meta:
        model = get_user_model()
        fields = ["is_active"]


class UserAdmin(DjangoUserAdmin):
    """People, to read, and to switch a sign-in off or on (`is_active`), nothing else: a staff
    user who could add a user, set someone's password or their flags could sign in as a
    clinician or a privacy officer. Users and passwords are set with the management commands
    (createsuperuser, changepassword) by whoever runs the server. A user's groups follow their
    teams' memberships (access.services)."""

    form = UserActiveForm
    fieldsets = [
        (None, {"fields": ["username", "first_name", "last_name", "email", "is_active"]}),
        ("Permissions", {"fields": ["is_staff", "is_superuser", "groups", "user_permissions"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    readonly_fields = [
        "username",
        "first_name",
        "last_name",
        "email",
        "is_staff",
        "is_superuser",
        "groups",
        "user_permissions",
        "last_login",
        "date_joined",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def user_change_password(self, request: HttpRequest, id, form_url=""):
        raise Http404("Passwords are not set in the admin.")


class TOTPDeviceAdmin(admin.ModelAdmin):
    """Authenticators, to read (never their key or its QR code), and to delete one a user has
    lost: they then set up a new one at their next sign-in, which takes their own password
    (lcr.two_factor.setup). Adding or changing one here would let staff give someone an
    authenticator whose key they know."""

    list_display = ["user", "name", "created_at", "last_used_at", "confirmed"]
    list_filter = ["confirmed"]
    search_fields = ["user__username"]
    fields = ["user", "name", "confirmed", "created_at", "last_used_at"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


admin.site.unregister(get_user_model())
admin.site.register(get_user_model(), UserAdmin)
admin.site.unregister(TOTPDevice)  # django-otp's own, which adds devices and shows their keys
admin.site.register(TOTPDevice, TOTPDeviceAdmin)

# django-oauth-toolkit's own pages would let an administrator set a partner's client secret (or
# issue a token) and then read records through the API as that partner; its models change only
# through access.services (register_api_client, rotate_api_client_secret), which record it.
for model in (
    oauth2_models.get_application_model(),
    oauth2_models.get_access_token_model(),
    oauth2_models.get_refresh_token_model(),
    oauth2_models.get_grant_model(),
    oauth2_models.get_id_token_model(),
):
    admin.site.unregister(model)


class RoleMappingInline(admin.TabularInline):
    model = RoleMapping
    fields = ["organisation", "rbac_code", "role_name", "team", "role"]
    autocomplete_fields = ["team"]
    extra = 0


@admin.register(IdentityProvider)
class IdentityProviderAdmin(admin.ModelAdmin):
    """Identity providers and their role mappings (docs/portal.md): who may sign in, and to which
    team and role each of their roles leads. A change applies at each user's next sign-in."""

    list_display = ["name", "slug", "issuer", "auth_method", "active"]
    list_filter = ["active", "auth_method"]
    inlines = [RoleMappingInline]

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        form.base_fields["client_secret"].widget = forms.PasswordInput(render_value=False)
        form.base_fields[
            "client_secret"
        ].help_text = (
            "Only for client secret authentication; left empty, the secret stays as it is."
        )
        return form

    def save_model(self, request, obj, form, change) -> None:
        if change and not form.cleaned_data.get("client_secret"):
            obj.client_secret = IdentityProvider.objects.get(pk=obj.pk).client_secret
        super().save_model(request, obj, form, change)


@admin.register(RoleMapping)
class RoleMappingAdmin(admin.ModelAdmin):
    """Every mapping in one list, to search by code (imported with `manage.py
    import_role_mappings`)."""

    list_display = ["organisation", "rbac_code", "role_name", "team", "role", "provider"]
    list_filter = ["provider", "role"]
    search_fields = ["organisation", "rbac_code", "role_name", "team__name"]
    autocomplete_fields = ["team"]


@admin.register(SignInSession)
class SignInSessionAdmin(ReadOnlyAdmin):
    """Who is signed in now; "End" on a session signs its user out at their next request."""

    list_display = ["user", "provider", "assurance", "role_mapping", "started_at"]
    list_filter = ["provider"]
    search_fields = ["user__username", "user__last_name"]
    actions = ["end"]

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.has_perm("access.delete_signinsession")

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description="End these sessions", permissions=["delete"])
    def end(self, request: HttpRequest, queryset: QuerySet) -> None:
        ended = end_sessions(queryset)
        self.message_user(request, f"{ended} session(s) ended.", messages.SUCCESS)


@admin.register(ClinicalSystem)
class ClinicalSystemAdmin(admin.ModelAdmin):
    """Clinical systems that may open the record in their patient's context (docs/launch.md)."""

    list_display = ["name", "issuer", "client_id", "active"]
    list_filter = ["active"]
