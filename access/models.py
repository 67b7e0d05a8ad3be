"""Who may see what: teams and roles, care relationships, break-glass, objections, the policy.

Object permissions on patients live in django-guardian's direct foreign-key tables below; they
are granted and revoked only by access.services as relationships start and end.
"""

import datetime

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.db.models import Q
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from records.models import Patient


class AccessBasis(models.TextChoices):
    """On what a look at a patient rests: the policy's answer, written into its access event."""

    RELATIONSHIP = "relationship", "Care relationship"
    BREAK_GLASS = "break_glass", "Emergency access"
    # Looks at who a patient is (their details, not their record) by people whose job it is:
    ADMINISTRATION = "administration", "Managing care relationships"
    PRIVACY_REVIEW = "privacy_review", "Privacy review"


# The one object permission on patients; only access.services grants or revokes it.
VIEW_RECORD = "records.view_record"
VIEW_RECORD_CODENAME = "view_record"


class Role(models.TextChoices):
    GP = "gp", "GP"
    PRACTICE_NURSE = "practice_nurse", "Practice nurse"
    AE_CLINICIAN = "ae_clinician", "A&E clinician"
    COMMUNITY_NURSE = "community_nurse", "Community nurse"
    MENTAL_HEALTH_CLINICIAN = "mental_health_clinician", "Mental health clinician"
    SOCIAL_WORKER = "social_worker", "Social worker"
    ADMINISTRATOR = "administrator", "Administrator"
    PRIVACY_OFFICER = "privacy_officer", "Privacy officer"


class Team(models.Model):
    """A group of professionals in one organisation; its Django group carries its permissions."""

    class Kind(models.TextChoices):
        GP_PRACTICE = "gp_practice", "GP practice"
        AE_DEPARTMENT = "ae_department", "A&E department"
        COMMUNITY_TEAM = "community_team", "Community team"
        MENTAL_HEALTH_TEAM = "mental_health_team", "Mental health team"
        SOCIAL_CARE_TEAM = "social_care_team", "Social care team"
        RECORD_OFFICE = "record_office", "Shared care record office"

    name = models.CharField(max_length=200)
    ods_code = models.CharField("organisation ODS code", max_length=10)
    kind = models.CharField(max_length=30, choices=Kind.choices)
    group = models.OneToOneField(Group, on_delete=models.PROTECT, related_name="team")

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["ods_code", "name"], name="team_unique")]

    def __str__(self) -> str:
        return f"{self.name} ({self.ods_code})"


def role_policy() -> models.ForeignObject:
    """The role's policy, joined by role (no column of its own), so that whoever reads a
    membership or an API client reads its policy in the same query. Not data: left out of
    fixtures and the change history."""
    return models.ForeignObject(
        "RolePolicy", on_delete=models.DO_NOTHING, from_fields=["role"], to_fields=["role"],
        null=True, related_name="+", serialize=False,
    )  # fmt: skip


class Membership(models.Model):
    """A user works in a team in one role; they act for one team at a time.

    Added, changed and ended only by access.services, each change in the change history
    (django-auditlog) with its actor and its reason; an ended membership is deleted, and its
    history stays.
    """

    # Why the change being saved or deleted is made: set by the service, kept by auditlog with
    # the change (get_additional_data), not a column.
    change_reason = ""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=30, choices=Role.choices)
    policy = role_policy()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "team"], name="membership_unique")]

    def __str__(self) -> str:
        return f"{self.user}: {self.get_role_display()}, {self.team}"

    def get_additional_data(self) -> dict | None:
        """What django-auditlog keeps with this change beside the fields: its reason."""
        return {"reason": self.change_reason} if self.change_reason else None


class Sensitivity(models.TextChoices):
    """Kinds of sensitive content, whoever holds it: what a code set or a label marks an item as,
    and what the role policy opens. Mental health content follows the policy's switch for mental
    health services' data (`sees_sensitive_sources`), so that one rule covers both."""

    SEXUAL_HEALTH = "sexual_health", "Sexual health and HIV"
    TERMINATION = "termination", "Termination of pregnancy"
    ASSISTED_CONCEPTION = "assisted_conception", "Assisted conception"
    GENDER_IDENTITY = "gender_identity", "Gender reassignment"
    SAFEGUARDING = "safeguarding", "Safeguarding"
    MENTAL_HEALTH = "mental_health", "Mental health"
    SUBSTANCE_MISUSE = "substance_misuse", "Substance misuse"
    RESTRICTED = "restricted", "Labelled restricted by its source"


class RolePolicy(models.Model):
    """What a role may see and do: data an administrator can read (seeded by a migration)."""

    role = models.CharField(max_length=30, choices=Role.choices, unique=True)
    categories = models.JSONField(default=list, help_text="Record headings this role may see.")
    sees_sensitive_sources = models.BooleanField(
        default=False, help_text="May see what mental health services hold."
    )
    sensitivities = models.JSONField(
        default=list, blank=True,
        help_text="Sensitive content (access.models.Sensitivity) this role sees through a care "
        "relationship.",
    )  # fmt: skip
    sensitivities_in_emergency = models.JSONField(
        default=list, blank=True,
        help_text="Sensitive content this role sees, besides, under emergency access (shown "
        "with a warning).",
    )  # fmt: skip
    may_break_glass = models.BooleanField(default=False)
    manages_relationships = models.BooleanField(default=False)
    reviews_break_glass = models.BooleanField(default=False)
    # The authentication assurance level (NIST 800-63 AAL, as CIS2 states it) a sign-in in this
    # role must reach: 3 is a smartcard or an equivalent.
    sign_in_assurance = models.PositiveSmallIntegerField(
        default=3, choices=[(1, "AAL1"), (2, "AAL2"), (3, "AAL3")]
    )

    class Meta:
        verbose_name_plural = "role policies"
        ordering = ["role"]

    def __str__(self) -> str:
        return self.get_role_display()


# "A relationship in force on a day": not ended, started, and its last day not passed. The one
# rule, said three ways beside each other because three kinds of reader need it: the ORM
# (CareRelationshipQuerySet.in_force), Python on a row in hand (CareRelationship.in_force_on) and
# the hand-written statements of access.policy and access.selectors (IN_FORCE_SQL, on a
# relationship named r, the day as the parameter %(today)s). tests/test_access.py holds the three
# to the same answers.
IN_FORCE_SQL = """r.ended_at IS NULL AND r.starts_on <= %(today)s
    AND (r.ends_on IS NULL OR r.ends_on >= %(today)s)"""


def _in_force(day: datetime.date) -> Q:
    return Q(ended_at__isnull=True, starts_on__lte=day) & (
        Q(ends_on__isnull=True) | Q(ends_on__gte=day)
    )


# A relationship is already in place when one not ended has the same holder (team or user),
# patient and kind, and dates that overlap (both inclusive; no end date: open-ended). Three
# statements of this one rule, held to the same answers by tests/test_relationship_import.py:
# the query below (start_relationship refuses a duplicate), CareRelationship.is_alike (the
# import's check of a whole file at once) and the database's own constraint (migration 0011:
# an exclusion constraint on PostgreSQL, triggers on SQLite), which holds when two imports run
# at once and neither could yet see the other's rows.
FOREVER = datetime.date.max


def _alike(
    *,
    patient_id: int,
    team_id: int | None,
    user_id: int | None,
    kind: str,
    starts_on: datetime.date,
    ends_on: datetime.date | None,
) -> Q:
    return Q(
        ended_at__isnull=True,
        patient_id=patient_id,
        team_id=team_id,
        user_id=user_id,
        kind=kind,
        starts_on__lte=ends_on or FOREVER,
    ) & (Q(ends_on__isnull=True) | Q(ends_on__gte=starts_on))


class CareRelationshipQuerySet(models.QuerySet):
    def in_force(self, day: datetime.date) -> "CareRelationshipQuerySet":
        """The relationships in force on this day."""
        return self.filter(_in_force(day))

    def alike(
        self,
        *,
        patient_id: int,
        team_id: int | None,
        user_id: int | None,
        kind: str,
        starts_on: datetime.date,
        ends_on: datetime.date | None,
    ) -> "CareRelationshipQuerySet":
        """The relationships already in place that one with these values would duplicate."""
        return self.filter(
            _alike(
                patient_id=patient_id,
                team_id=team_id,
                user_id=user_id,
                kind=kind,
                starts_on=starts_on,
                ends_on=ends_on,
            )
        ).order_by("starts_on", "pk")


class CareRelationship(models.Model):
    """Team T (or user U) cares for patient P from a date to a date, because R."""

    class Kind(models.TextChoices):
        REGISTERED_GP = "registered_gp", "Registered GP"
        CURRENT_EPISODE = "current_episode", "Current episode of care"
        SOCIAL_CARE_CASE = "social_care_case", "Social care case"
        REFERRAL = "referral", "Referral"

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="relationships")
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.PROTECT, related_name="relationships"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="care_relationships",
    )
    kind = models.CharField(max_length=30, choices=Kind.choices)
    starts_on = models.DateField()
    ends_on = models.DateField(null=True, blank=True, help_text="Last day; empty: until ended.")
    reason = models.TextField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    granted_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    end_reason = models.TextField(blank=True)
    # The patient's names, copied by the database itself (migration 0012's triggers) when a
    # relationship is written and whenever the patient's names change, so that "my patients" is
    # read in name order from the team's own index instead of looking up the names of all its
    # patients (5,000 at a busy practice) on every home page. An order only: who is listed is
    # decided from the relationship and its grant as ever.
    patient_family_name = models.CharField(max_length=100, default="", editable=False)
    patient_given_names = models.CharField(max_length=200, default="", editable=False)

    objects = CareRelationshipQuerySet.as_manager()

    class Meta:
        ordering = ["-starts_on"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(team__isnull=False) & Q(user__isnull=True))
                | (Q(team__isnull=True) & Q(user__isnull=False)),
                name="relationship_team_or_user",
            ),
            models.CheckConstraint(
                condition=Q(ends_on__isnull=True) | Q(ends_on__gte=models.F("starts_on")),
                name="relationship_ends_after_start",
            ),
        ]
        indexes = [
            models.Index(fields=["team", "patient"], name="relationship_team_patient"),
            models.Index(fields=["user", "patient"], name="relationship_user_patient"),
            models.Index(fields=["patient", "ended_at"], name="relationship_patient"),
            models.Index(fields=["ends_on"], name="relationship_ends_on"),
            models.Index(
                fields=["team", "patient_family_name", "patient_given_names", "patient"],
                include=["starts_on", "ends_on"],
                condition=Q(ended_at__isnull=True),
                name="relationship_team_by_name",
            ),
        ]

    def __str__(self) -> str:
        who = self.team or self.user
        return f"{who} cares for {self.patient_id} ({self.get_kind_display()})"

    def in_force_on(self, day: datetime.date) -> bool:
        """Whether this relationship is in force on this day (IN_FORCE_SQL's rule)."""
        return (
            self.ended_at is None
            and self.starts_on <= day
            and (self.ends_on is None or self.ends_on >= day)
        )

    def is_alike(
        self,
        *,
        patient_id: int,
        team_id: int | None,
        user_id: int | None,
        kind: str,
        starts_on: datetime.date,
        ends_on: datetime.date | None,
    ) -> bool:
        """Whether a relationship with these values would duplicate this one (the queryset's
        `alike` rule, for a list already read)."""
        return (
            self.ended_at is None
            and (self.patient_id, self.team_id, self.user_id, self.kind)
            == (patient_id, team_id, user_id, kind)
            and self.starts_on <= (ends_on or FOREVER)
            and (self.ends_on or FOREVER) >= starts_on
        )


class RelationshipImport(models.Model):
    """One uploaded CSV file of care relationships, kept (bytes and SHA-256) for a short while
    so that what the administrator checked is what is imported, and what happened to each row
    can be shown and downloaded. Purged IMPORT_KEPT_FOR after upload (access.importing)."""

    file_name = models.CharField(max_length=255)
    data = models.BinaryField()
    sha256 = models.CharField(max_length=64)
    size = models.PositiveIntegerField()
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    uploaded_at = models.DateTimeField(db_index=True)
    row_count = models.PositiveIntegerField(default=0)
    # What the check found, then what the import did: one entry a row (access.importing.Outcome).
    checked_rows = models.JSONField(default=list)
    imported_rows = models.JSONField(default=list)
    imported_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.file_name} ({self.sha256[:12]})"


class BreakGlassAccess(models.Model):
    """Emergency access without a relationship: time-limited, reasoned, reviewed."""

    class Reason(models.TextChoices):
        EMERGENCY_TREATMENT = "emergency_treatment", "Emergency treatment"
        UNCONSCIOUS = "unconscious", "Patient unable to consent (unconscious or confused)"
        URGENT_MEDICATION = "urgent_medication", "Urgent medicines reconciliation"
        SAFEGUARDING = "safeguarding", "Immediate safeguarding concern"
        OTHER = "other", "Other (say why)"

    class Review(models.TextChoices):
        """Where the access stands: its latest review's decision (every review is a
        BreakGlassReview; which decision may follow which is access.services' rule)."""

        PENDING = "pending", "Waiting for review"
        APPROVED = "approved", "Appropriate"
        FLAGGED = "flagged", "Flagged for investigation"
        # An investigation's conclusions:
        CLEARED = "cleared", "Investigated: appropriate"
        CONFIRMED = "confirmed", "Investigated: not appropriate"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="break_glass"
    )
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="break_glass")
    reason = models.CharField(max_length=30, choices=Reason.choices)
    explanation = models.TextField()
    started_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    review = models.CharField(max_length=20, choices=Review.choices, default=Review.PENDING)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.TextField(blank=True)

    class Meta:
        verbose_name = "break-glass access"
        ordering = ["-started_at"]
        indexes = [
            models.Index(fields=["user", "patient", "expires_at"], name="breakglass_active"),
            models.Index(fields=["review", "started_at"], name="breakglass_review_queue"),
        ]

    def __str__(self) -> str:
        return f"{self.user} broke glass for {self.patient_id} at {self.started_at:%Y-%m-%d %H:%M}"


class ReviewHistoryError(Exception):
    """Someone tried to change or remove a recorded review."""


class BreakGlassReviewQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise ReviewHistoryError("A review, once recorded, is not changed.")

    def delete(self):
        raise ReviewHistoryError("A review, once recorded, is not removed.")


class BreakGlassReview(models.Model):
    """One privacy officer's decision on one emergency access, kept for good: a later review
    adds a row, never changes one (the ORM refuses; on PostgreSQL so do triggers and the
    application's grants, as for the audit trail). BreakGlassAccess.review is the latest."""

    access = models.ForeignKey(BreakGlassAccess, on_delete=models.PROTECT, related_name="reviews")
    decision = models.CharField(
        max_length=20,
        choices=[
            choice
            for choice in BreakGlassAccess.Review.choices
            if choice[0] != BreakGlassAccess.Review.PENDING
        ],
    )
    note = models.TextField(blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    reviewed_at = models.DateTimeField()

    objects = BreakGlassReviewQuerySet.as_manager()

    class Meta:
        ordering = ["reviewed_at", "pk"]
        indexes = [models.Index(fields=["access", "reviewed_at"], name="breakglass_review_history")]

    def __str__(self) -> str:
        return f"{self.get_decision_display()} by {self.reviewed_by} at {self.reviewed_at}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None or not self._state.adding:
            raise ReviewHistoryError("A review, once recorded, is not changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ReviewHistoryError("A review, once recorded, is not removed.")


class StaffProfile(models.Model):
    """What the employer's HR record says of a professional that the privacy alerts need."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_profile"
    )
    home_postcode = models.CharField(
        max_length=8,
        blank=True,
        help_text="Used only to flag looks at the records of people living at the same address.",
    )
    # Honoured only where the deployment allows the choice (LCR_STAFF_MAY_BE_SHOWN_BY_ROLE): the
    # patient's "who has looked at my record" then says "a GP", not the name.
    shown_to_patients_by_role_only = models.BooleanField(
        "shown to patients by role only",
        default=False,
        help_text="Patients reading who looked at their record see this person's job role and "
        "organisation, not their name (where this deployment allows the choice).",
    )

    def __str__(self) -> str:
        return f"Staff profile of {self.user}"

    def save(self, *args, **kwargs) -> None:
        from records.matching import normalise_postcode

        self.home_postcode = normalise_postcode(self.home_postcode)
        super().save(*args, **kwargs)


class Objection(models.Model):
    """The patient objects to sharing their record; see docs/access.md for what it blocks."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="objections")
    notes = models.TextField(help_text="What the patient asked, and how it was recorded.")
    # Empty when the patient recorded it themselves (`recorded_by_patient`, through NHS login).
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    recorded_by_patient = models.BooleanField(
        default=False, help_text="Recorded by the patient themselves, signed in through NHS login."
    )
    recorded_at = models.DateTimeField()
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    withdrawn_by_patient = models.BooleanField(
        default=False, help_text="Withdrawn by the patient themselves, signed in through NHS login."
    )

    class Meta:
        ordering = ["-recorded_at"]
        indexes = [models.Index(fields=["patient", "withdrawn_at"], name="objection_active")]
        constraints = [
            # Someone is always answerable for it: a member of staff, or the patient.
            models.CheckConstraint(
                condition=models.Q(recorded_by__isnull=False) | models.Q(recorded_by_patient=True),
                name="objection_recorded_by_someone",
            ),
            # One standing objection a person: a second would outlive the first's withdrawal.
            models.UniqueConstraint(
                fields=["patient"],
                condition=models.Q(withdrawn_at__isnull=True),
                name="one_standing_objection",
            ),
        ]

    def __str__(self) -> str:
        return f"Objection for {self.patient_id} from {self.recorded_at:%Y-%m-%d}"

    @property
    def recorded_by_words(self) -> str:
        if self.recorded_by_patient:
            return "the patient, through NHS login"
        return str(self.recorded_by)


class PatientUserObjectPermission(UserObjectPermissionBase):
    """django-guardian's direct foreign-key table for a user's permissions on a patient."""

    content_object = models.ForeignKey(Patient, on_delete=models.CASCADE)


class PatientGroupObjectPermission(GroupObjectPermissionBase):
    """django-guardian's direct foreign-key table for a team's permissions on a patient."""

    content_object = models.ForeignKey(Patient, on_delete=models.CASCADE)


class ApiClient(models.Model):
    """A partner system (an EPR, a council's case system) calling the API for one team.

    It authenticates with OAuth2 client credentials (its oauth2_provider Application), acts as
    its own service user in its team with `role` (so the same policy applies as to the team's
    professionals), may ask only for `scopes`, and is throttled at `rate` (or the default).
    """

    class Scope(models.TextChoices):
        PATIENT_READ = "patient.read", "Find patients and read their records"
        RELATIONSHIP_WRITE = "relationship.write", "Start and end care relationships"
        AUDIT_READ = "audit.read", "Read patients' access reports"

    application = models.OneToOneField(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL,
        on_delete=models.CASCADE,
        related_name="api_client",
    )
    name = models.CharField(max_length=200)
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="api_clients")
    role = models.CharField(max_length=30, choices=Role.choices)
    policy = role_policy()
    scopes = models.JSONField(default=list, help_text="Scopes this client may ask for.")
    service_user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_client"
    )
    rate = models.CharField(
        max_length=20, blank=True, help_text='Requests allowed, e.g. "600/min"; empty: default.'
    )
    active = models.BooleanField(default=True)
    # A client may prove itself with a signed JWT (private_key_jwt) instead of its secret: its
    # public keys are at `jwks_uri`, or uploaded here as a JWKS.
    jwks_uri = models.URLField("JWKS URL", blank=True)
    public_jwks = models.JSONField("public keys (JWKS)", null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.team})"


class SensitiveCodeSet(models.Model):
    """A named, dated list of codes that make an item sensitive, with where it comes from:
    data (seeded by access migration 0006), read at every look, so a change applies at once."""

    name = models.CharField(max_length=200, unique=True)
    sensitivity = models.CharField(max_length=30, choices=Sensitivity.choices)
    source = models.CharField(max_length=300, help_text="Who publishes the list we follow.")
    source_url = models.CharField("where it is published", max_length=300, blank=True)
    as_of = models.DateField(help_text="The date of the published list we took the codes from.")

    class Meta:
        ordering = ["sensitivity", "name"]

    def __str__(self) -> str:
        return self.name


class SensitiveCode(models.Model):
    """One code of a sensitive code set, in its code system (SNOMED CT, ICD-10, an HL7 label)."""

    code_set = models.ForeignKey(SensitiveCodeSet, on_delete=models.CASCADE, related_name="codes")
    system = models.CharField(max_length=200)
    code = models.CharField(max_length=64)
    display = models.CharField(max_length=300)

    class Meta:
        ordering = ["code_set", "system", "code"]
        constraints = [
            models.UniqueConstraint(
                fields=["code_set", "system", "code"], name="sensitive_code_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.display}"


class ClientAssertionUse(models.Model):
    """A signed client assertion (`private_key_jwt`) a partner system has used: its `jti` may not
    be used again before it expires (RFC 7523 section 3). Rows past `expires_at` are purged."""

    client = models.ForeignKey(ApiClient, on_delete=models.CASCADE, related_name="+")
    jti = models.CharField(max_length=200)
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["client", "jti"], name="client_assertion_once")
        ]
        indexes = [models.Index(fields=["expires_at"], name="client_assertion_expiry")]

    def __str__(self) -> str:
        return f"{self.jti} (until {self.expires_at:%Y-%m-%d %H:%M})"


class IdentityProvider(models.Model):
    """An OpenID Connect provider staff sign in with (NHS CIS2 for NHS staff, a council's own for
    its social workers), registered by an administrator: where it is, how we authenticate to it,
    what assurance we ask for, and which of its claims say who the user is and in which role.

    `claims` names the claims (data, not code), so that a provider that says things differently
    is a change of data: see docs/portal.md for the keys and the CIS2 and Entra ID examples.
    """

    class AuthMethod(models.TextChoices):
        PRIVATE_KEY_JWT = "private_key_jwt", "Signed JWT (private_key_jwt)"
        CLIENT_SECRET_POST = "client_secret_post", "Client secret (in the form)"
        CLIENT_SECRET_BASIC = "client_secret_basic", "Client secret (HTTP Basic)"

    slug = models.SlugField(unique=True, help_text="In the sign-in address: /sign-in/<slug>/.")
    name = models.CharField(max_length=200, help_text='Shown on the button: "Sign in with ...".')
    issuer = models.URLField(help_text="Its issuer; discovery is read from here.")
    client_id = models.CharField(max_length=200)
    client_secret = models.CharField(
        max_length=200, blank=True, help_text="Only for client secret authentication."
    )
    auth_method = models.CharField(
        max_length=30, choices=AuthMethod.choices, default=AuthMethod.PRIVATE_KEY_JWT
    )
    scopes = models.CharField(max_length=300, default="openid profile email")
    acr_values = models.CharField(
        max_length=200, blank=True, help_text='Asked for at sign-in, e.g. "AAL3_ANY".'
    )
    claims = models.JSONField(default=dict, blank=True, help_text="Which claim says what.")
    default_organisation = models.CharField(
        max_length=10,
        blank=True,
        help_text="ODS code of the organisation whose staff it signs in, when its roles name "
        "none (a council's provider).",
    )
    active = models.BooleanField(default=True)
    order = models.PositiveSmallIntegerField(default=0)
    # Patients and staff never share a provider: a patients' provider (NHS login) signs a person
    # in to their own part of the portal only (care_record/patient_sign_in.py), never as a user
    # here; the staff sign-in refuses it, and the patients' sign-in refuses every other.
    for_patients = models.BooleanField(
        "signs in patients (NHS login)",
        default=False,
        help_text="Patients sign in with it to see who has looked at their own record; it never "
        "signs in staff.",
    )

    class Meta:
        ordering = ["order", "name"]
        constraints = [
            # The patients' provider is trusted to say whose record a person may see: one only.
            models.UniqueConstraint(
                fields=["for_patients"],
                condition=models.Q(for_patients=True, active=True),
                name="one_active_patients_provider",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class RoleMapping(models.Model):
    """A role the identity provider gives (its organisation and national RBAC code, or a
    council's app role) maps to a team and a role here. An unmapped role sees no patient."""

    provider = models.ForeignKey(
        IdentityProvider, on_delete=models.CASCADE, related_name="role_mappings"
    )
    organisation = models.CharField("organisation ODS code", max_length=10)
    rbac_code = models.CharField(
        "role code", max_length=100, help_text='National RBAC code ("R8000") or app role.'
    )
    role_name = models.CharField(max_length=200, blank=True)
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="role_mappings")
    role = models.CharField(max_length=30, choices=Role.choices)

    class Meta:
        ordering = ["provider", "organisation", "rbac_code"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "organisation", "rbac_code"], name="role_mapping_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.organisation} {self.rbac_code} -> {self.get_role_display()}, {self.team}"


class ExternalIdentity(models.Model):
    """A user as an identity provider knows them (its `sub`): how a sign-in finds the user."""

    provider = models.ForeignKey(IdentityProvider, on_delete=models.PROTECT, related_name="+")
    subject = models.CharField(max_length=255)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="external_identities"
    )
    first_seen_at = models.DateTimeField(auto_now_add=True)
    last_sign_in_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "external identities"
        constraints = [
            models.UniqueConstraint(fields=["provider", "subject"], name="external_identity_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user} at {self.provider}"


class SignInSession(models.Model):
    """One signed-in session of a user: how back-channel logout (by the provider's `sid`, or all
    of a `sub`'s) finds the sessions to end, and how an administrator sees who is signed in."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sign_in_sessions"
    )
    provider = models.ForeignKey(
        IdentityProvider, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    sid = models.CharField(max_length=255, blank=True, help_text="The provider's session id.")
    session_key = models.CharField(max_length=64, unique=True)
    assurance = models.PositiveSmallIntegerField(default=0, help_text="Authentication level.")
    role_mapping = models.ForeignKey(
        RoleMapping, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["provider", "sid"], name="sign_in_session_sid")]

    def __str__(self) -> str:
        return f"{self.user} since {self.started_at:%Y-%m-%d %H:%M}"


class ClinicalSystem(models.Model):
    """A clinical system (EMIS, SystmOne, Cerner) allowed to launch the record in the context of
    its patient (SMART App Launch, EHR launch): its FHIR base (`iss`), and our client id there."""

    name = models.CharField(max_length=200)
    issuer = models.URLField("FHIR base (iss)", unique=True)
    client_id = models.CharField(max_length=200)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
