"""Linked identities: patients, the source systems that hold their records, and the links between.

The record keeps no clinical data of its own; these rows say who a person is and where to look.
"""

import orjson
from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.db.models.fields.json import KeyTransform
from django.db.models.functions import Greatest, Least, Upper
from django.utils import timezone

from records.confidentiality import (
    RESTRICTED_DETAILS,
    Confidentiality,
    ContactDetails,
    contact_details,
    is_restricted,
    without_restricted_patients,
)
from records.nhs_numbers import format_nhs_number, validate_nhs_number
from records.source_urls import validate_alias_base_urls, validate_source_base_url
from records.stored_items import may_hold_patient, stored_resource, with_resource


class Sex(models.TextChoices):
    """FHIR administrative gender, as the identity service records it."""

    MALE = "male", "Male"
    FEMALE = "female", "Female"
    OTHER = "other", "Other"
    UNKNOWN = "unknown", "Unknown"


class PatientQuerySet(models.QuerySet):
    def current(self) -> "PatientQuerySet":
        """Register entries still in use: not merged away into another (the one definition)."""
        return self.filter(merged_into__isnull=True)

    def restricted(self) -> "PatientQuerySet":
        """People whose contact details are not shared (R and V)."""
        return self.exclude(confidentiality=Confidentiality.UNRESTRICTED)


class Patient(models.Model):
    """One person, identified by a verified NHS number, as the identity service knows them."""

    nhs_number = models.CharField(
        "NHS number", max_length=10, unique=True, validators=[validate_nhs_number]
    )
    prefix = models.CharField(max_length=20, blank=True)
    given_names = models.CharField(max_length=200)
    family_name = models.CharField(max_length=100)
    birth_date = models.DateField()
    sex = models.CharField(max_length=10, choices=Sex.choices, default=Sex.UNKNOWN)
    address_lines = models.TextField(blank=True, help_text="One address line per text line.")
    city = models.CharField(max_length=100, blank=True)
    postcode = models.CharField(max_length=8, blank=True)
    phone = models.CharField(max_length=30, blank=True)
    email = models.EmailField(blank=True)
    gp_practice_ods_code = models.CharField("GP practice ODS code", max_length=10, blank=True)
    gp_practice_name = models.CharField("GP practice", max_length=200, blank=True)
    gp_name = models.CharField("named GP", max_length=200, blank=True)
    date_of_death = models.DateField(null=True, blank=True)
    confidentiality = models.CharField(
        max_length=1,
        choices=Confidentiality.choices,
        default=Confidentiality.UNRESTRICTED,
        help_text="As PDS labels the person. A restricted person's address, telephone, email "
        "and GP practice are stored nowhere and shown nowhere.",
    )
    merged_into = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="merged_records",
        help_text="Set when this record was found to be the same person as another.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PatientQuerySet.as_manager()

    class Meta:
        ordering = ["family_name", "given_names"]
        permissions = [
            ("view_record", "Can see the record (granted only by care relationships)"),
        ]
        indexes = [
            models.Index(Upper("family_name"), "birth_date", name="patient_upper_name_dob"),
            models.Index(fields=["birth_date"], name="patient_dob"),
            models.Index(fields=["postcode"], name="patient_postcode"),
            # "My patients" sorts a team's thousands of patients by name: this index gives the
            # names by id without reading each patient's row (on PostgreSQL; SQLite ignores
            # the included columns, hence models.W040 silenced in settings).
            models.Index(
                fields=["id"], include=["family_name", "given_names"], name="patient_names_by_id"
            ),
        ]
        constraints = [
            # The database itself refuses a restricted person's contact details, whatever path
            # (a bulk update, a raw import) tries to write them.
            models.CheckConstraint(
                condition=models.Q(confidentiality=Confidentiality.UNRESTRICTED)
                | models.Q(**{field: "" for field in RESTRICTED_DETAILS}),
                name="patient_restricted_holds_no_contact_details",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.full_name} ({self.formatted_nhs_number})"

    def save(self, *args, **kwargs) -> None:
        if self.restricted:
            for field in RESTRICTED_DETAILS:
                setattr(self, field, "")
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], *RESTRICTED_DETAILS}
        with transaction.atomic():
            super().save(*args, **kwargs)
            if self.restricted:
                self._forget_earlier_copies()

    def _forget_earlier_copies(self) -> None:
        """Clear what was copied of this person's contact details before they were restricted:
        the postcode of their records on the review queue, and the Patient resources in the
        snapshots of their links. (The change history never kept them: records/apps.py.)"""
        # The queue keeps a stated number as the source wrote it: spaced or not, old or current.
        numbers = {self.nhs_number, *self.superseded_numbers.values_list("nhs_number", flat=True)}
        stated = {form for number in numbers for form in (number, format_nhs_number(number))}
        about_them = models.Q(candidates__patient=self) | models.Q(stated_nhs_number__in=stated)
        for source_id, local_id in self.links.values_list("source_id", "local_id"):
            about_them |= models.Q(source_id=source_id, local_id=local_id)
        records = UnmatchedRecord.objects.filter(about_them).exclude(postcode="")
        UnmatchedRecord.objects.filter(pk__in=list(records.values_list("pk", flat=True))).update(
            postcode=""
        )
        for snapshot in Snapshot.objects.filter(link__patient=self).only("pk", "items"):
            items = without_restricted_details_in_items(snapshot.items, restricted=True)
            if items is not snapshot.items:
                Snapshot.objects.filter(pk=snapshot.pk).update(items=items)

    @property
    def restricted(self) -> bool:
        """Whether PDS restricts this person: their contact details are not shared."""
        return is_restricted(self.confidentiality)

    @property
    def contact(self) -> ContactDetails:
        """The contact details one may show of this person: none if they are restricted. Pages,
        lists, reports and the API read them here, never the fields themselves."""
        return contact_details(self)

    @property
    def full_name(self) -> str:
        return f"{self.given_names} {self.family_name.upper()}"

    @property
    def formatted_nhs_number(self) -> str:
        return format_nhs_number(self.nhs_number)

    @property
    def age(self) -> int:
        """Age in whole years today, or at death."""
        end, born = self.date_of_death or timezone.localdate(), self.birth_date
        return end.year - born.year - ((end.month, end.day) < (born.month, born.day))


class SourceSystem(models.Model):
    """One organisation's system that holds records, and the interface it speaks: FHIR R4
    search, or GP Connect Access Record Structured (FHIR STU3), as GP practices in England do."""

    class Kind(models.TextChoices):
        GP = "gp", "GP practice"
        ACUTE = "acute", "Acute hospital"
        COMMUNITY = "community", "Community services"
        MENTAL_HEALTH = "mental_health", "Mental health services"
        SOCIAL_CARE = "social_care", "Social care"

    class PatientSearch(models.TextChoices):
        LOCAL_ID = "local_id", "patient=<local id>"
        IDENTIFIER = "identifier", "patient:identifier=<NHS number system>|<NHS number>"
        CHAINED = "chained", "patient.identifier=<NHS number system>|<NHS number>"

    class Interface(models.TextChoices):
        """How the source is asked for a record; each has its adapter in records.sources and
        speaks one FHIR version (records.sources.capabilities.INTERFACE_VERSIONS)."""

        FHIR_R4_SEARCH = "fhir_r4_search", "FHIR R4 search"
        GP_CONNECT_STRUCTURED = "gp_connect_structured", "GP Connect Access Record Structured"

    ods_code = models.CharField("ODS code", max_length=10, unique=True)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    base_url = models.URLField(
        "FHIR base URL", max_length=500, validators=[validate_source_base_url]
    )
    credentials_ref = models.CharField(
        "credentials reference",
        max_length=200,
        blank=True,
        help_text="Name of the secret holding this source's credentials; never the secret itself.",
    )
    timeout_seconds = models.FloatField(
        default=10.0, validators=[MinValueValidator(0.1), MaxValueValidator(120.0)]
    )
    look_budget_seconds = models.FloatField(
        "time for one look (seconds)",
        null=True,
        blank=True,
        validators=[MinValueValidator(0.5), MaxValueValidator(120.0)],
        help_text="How long one look may wait for this source in all, every retry included; "
        "blank: LCR_FETCH_LOOK_BUDGET_SECONDS (8 s).",
    )
    enabled = models.BooleanField(default=True)
    alias_base_urls = models.TextField(
        "other base URLs",
        blank=True,
        validators=[validate_alias_base_urls],
        help_text="One a line: other addresses of the same FHIR server (behind another proxy or "
        "name). A reference to a patient on any of them is a reference to this source's patient.",
    )

    interface = models.CharField(
        "kind of interface",
        max_length=30,
        choices=Interface.choices,
        default=Interface.FHIR_R4_SEARCH,
        help_text="What the source speaks: FHIR R4 searches (<Type>?patient=...), or GP "
        "Connect's structured record (POST Patient/$gpc.getstructuredrecord, FHIR STU3).",
    )
    declared_fhir_version = models.CharField(
        "FHIR version it declares",
        max_length=20,
        blank=True,
        help_text="The fhirVersion of the source's CapabilityStatement when it was last checked "
        "(blank: not checked yet). A source declaring another version than its interface "
        "speaks is refused, with that reason.",
    )
    patient_search = models.CharField(
        "search by",
        max_length=20,
        choices=PatientSearch.choices,
        default=PatientSearch.LOCAL_ID,
        help_text="How this source is asked for a patient's resources: by its own id for the "
        "patient, or by NHS number (as national services such as NRL want).",
    )
    wrong_patient_count = models.PositiveIntegerField(
        "records about a different person",
        default=0,
        help_text="How many times this source answered for a patient with a record about "
        "someone else (nothing of that heading was shown).",
    )
    wrong_patient_at = models.DateTimeField(
        "last record about a different person", null=True, blank=True
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.ods_code})"

    @property
    def base_urls(self) -> tuple[str, ...]:
        """Every address of this source's FHIR server: its base URL, then its aliases."""
        aliases = [line.strip() for line in self.alias_base_urls.splitlines() if line.strip()]
        return (self.base_url, *aliases)


class MatchMethod(models.TextChoices):
    NHS_NUMBER = "nhs_number", "NHS number"
    DEMOGRAPHICS = "demographics", "Demographics (reviewed)"


class Link(models.Model):
    """A source reference: patient P is known to source S by local id L."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="links")
    source = models.ForeignKey(SourceSystem, on_delete=models.PROTECT, related_name="links")
    local_id = models.CharField(max_length=64)
    matched_by = models.CharField(max_length=20, choices=MatchMethod.choices)
    match_score = models.FloatField(
        null=True, blank=True, help_text="Demographic score (0 to 1) when matched by demographics."
    )
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    confirmed_at = models.DateTimeField()

    class Meta:
        ordering = ["source__name"]
        constraints = [
            models.UniqueConstraint(fields=["source", "local_id"], name="link_unique_local_id")
        ]
        indexes = [models.Index(fields=["patient", "source"], name="link_patient_source")]

    def __str__(self) -> str:
        return f"{self.patient.nhs_number} = {self.source.ods_code}:{self.local_id}"


class SupersededNhsNumber(models.Model):
    """An NHS number PDS has replaced with another: a source still stating it means the patient
    under the current number (so a later source using the old number finds them)."""

    nhs_number = models.CharField(
        "superseded NHS number", max_length=10, unique=True, validators=[validate_nhs_number]
    )
    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="superseded_numbers"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["nhs_number"]

    def __str__(self) -> str:
        return f"{self.nhs_number} superseded by {self.patient.nhs_number}"


class UnmatchedRecord(models.Model):
    """A source's patient record that could not be linked by NHS number: waits for a person."""

    class Reason(models.TextChoices):
        NO_NHS_NUMBER = "no_nhs_number", "Source holds no NHS number"
        INVALID_NHS_NUMBER = "invalid_nhs_number", "NHS number fails its check digit"
        UNKNOWN_NHS_NUMBER = "unknown_nhs_number", "NHS number not in the register"
        UNVERIFIED_NHS_NUMBER = "unverified_nhs_number", "Source has not verified the NHS number"
        NOT_KNOWN_TO_PDS = "not_known_to_pds", "PDS does not know the NHS number"
        BIRTH_DATE_DIFFERS = "birth_date_differs", "Date of birth differs from the register"
        UNLINKED = "unlinked", "Link undone by a reviewer"

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for review"
        NEEDS_INFORMATION = "needs_information", "Needs more information"
        LINKED = "linked", "Linked"
        DISMISSED = "dismissed", "No match"

    # Still to be decided: a reviewer may link, reject or dismiss it; identity sync refreshes it.
    WAITING = (Status.PENDING, Status.NEEDS_INFORMATION)

    source = models.ForeignKey(SourceSystem, on_delete=models.PROTECT, related_name="unmatched")
    local_id = models.CharField(max_length=64)
    reason = models.CharField(max_length=30, choices=Reason.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    stated_nhs_number = models.CharField(max_length=20, blank=True)
    given_names = models.CharField(max_length=200, blank=True)
    family_name = models.CharField(max_length=100, blank=True)
    birth_date = models.DateField(null=True, blank=True)
    postcode = models.CharField(max_length=8, blank=True)
    first_seen_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Who made the latest decision about the record (linked, no match, or more "
        "information needed).",
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(
        blank=True, help_text="The reviewer's reason for the latest decision, in their words."
    )

    class Meta:
        ordering = ["first_seen_at"]
        constraints = [
            models.UniqueConstraint(fields=["source", "local_id"], name="unmatched_unique_local_id")
        ]
        indexes = [models.Index(fields=["status", "first_seen_at"], name="unmatched_queue")]

    def __str__(self) -> str:
        return f"{self.source.ods_code}:{self.local_id} {self.given_names} {self.family_name}"


class MatchCandidate(models.Model):
    """A register patient who might be the person behind an unmatched record, with a score."""

    class Status(models.TextChoices):
        PENDING = "pending", "To review"
        CONFIRMED = "confirmed", "Confirmed"
        REJECTED = "rejected", "Rejected"

    record = models.ForeignKey(UnmatchedRecord, on_delete=models.CASCADE, related_name="candidates")
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    score = models.FloatField()
    breakdown = models.JSONField(default=dict, help_text="Score per field, for the reviewer.")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(
        blank=True, help_text="Why the reviewer decided this is (or is not) the same person."
    )

    class Meta:
        ordering = ["-score"]
        constraints = [
            models.UniqueConstraint(fields=["record", "patient"], name="candidate_unique_patient")
        ]

    def __str__(self) -> str:
        return f"{self.record} ~ {self.patient.nhs_number} ({self.score:.2f})"


class PatientMerge(models.Model):
    """Two register entries found to be one person; keeps what moved so the merge can be undone."""

    kept = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="merges_kept")
    retired = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="merges_retired")
    moved_link_ids = models.JSONField(default=list)
    reason = models.TextField()
    merged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    merged_at = models.DateTimeField()
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The second person who approved it, when the records differed.",
    )
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    undone_at = models.DateTimeField(null=True, blank=True)
    undo_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-merged_at"]

    def __str__(self) -> str:
        return f"{self.retired.nhs_number} merged into {self.kept.nhs_number}"


class MergeDifference(models.TextChoices):
    """What may differ between two register entries asked to be merged; any of them means a
    second person must approve (records.services.request_merge)."""

    BIRTH_DATE = "birth_date", "date of birth"
    SEX = "sex", "sex"
    NHS_NUMBER = "nhs_number", "NHS number"


class PatientMergeRequest(models.Model):
    """A merge one reviewer asked for, of two entries that differ in date of birth, sex or NHS
    number: it waits for a different person with the merge permission to approve or refuse."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for approval"
        APPROVED = "approved", "Approved and merged"
        REFUSED = "refused", "Refused"

    kept = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    retired = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    differences = models.JSONField(default=list, help_text="MergeDifference values.")
    reason = models.TextField()
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    merge = models.OneToOneField(
        PatientMerge, null=True, blank=True, on_delete=models.PROTECT, related_name="request"
    )

    class Meta:
        ordering = ["requested_at"]
        constraints = [
            # One open request for a pair at a time, whichever of them is to be kept.
            models.UniqueConstraint(
                Least("kept", "retired"),
                Greatest("kept", "retired"),
                condition=models.Q(status="pending"),
                name="merge_request_one_pending_per_pair",
            )
        ]
        indexes = [models.Index(fields=["status", "requested_at"], name="merge_request_queue")]

    def __str__(self) -> str:
        return f"merge of {self.retired_id} into {self.kept_id} ({self.status})"


class IdentitySyncRun(models.Model):
    """One reading of a source's Patient resources: what was linked, queued or refused, and why."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    source = models.ForeignKey(SourceSystem, on_delete=models.CASCADE, related_name="sync_runs")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    seen = models.PositiveIntegerField(default=0)
    linked = models.PositiveIntegerField(default=0)
    already_linked = models.PositiveIntegerField(default=0)
    queued = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    mismatched = models.PositiveIntegerField(
        default=0, help_text="Linked records whose source now states another NHS number."
    )
    superseded = models.PositiveIntegerField(
        default=0,
        help_text="Records linked whose stated NHS number PDS has superseded: linked to the "
        "person under the current number.",
    )
    error = models.TextField(blank=True)
    rejections = models.JSONField(
        default=list, help_text="The first refused or mismatched resources, and why."
    )

    class Meta:
        ordering = ["-started_at"]
        get_latest_by = "started_at"

    def __str__(self) -> str:
        return f"{self.source.ods_code} {self.started_at:%Y-%m-%d %H:%M} {self.status}"


class ItemsField(models.JSONField):
    """A JSONField read with orjson. A record's snapshots hold about 700 KB of JSON (550 items,
    each with its source's FHIR resource), read on every look: the standard library took 7.4 ms
    to read them, orjson 3.7. What orjson refuses (a number too large for a float, such as
    1e400) is read as Django reads it. One difference: an integer beyond 64 bits comes back as
    the nearest float, as most JSON readers give it (FHIR's integers are 32-bit, and the fetcher
    refuses larger; only a decimal of twenty digits and no point could be one)."""

    def from_db_value(self, value, expression, connection):
        if isinstance(value, str | bytes) and not isinstance(expression, KeyTransform):
            try:
                return orjson.loads(value)
            except orjson.JSONDecodeError:
                pass
        return super().from_db_value(value, expression, connection)


class Snapshot(models.Model):
    """What one source said about one category of a patient's record, kept briefly as a cache.

    The record is a view, not a copy: snapshots expire (LCR_SNAPSHOT_TTL_SECONDS) and are purged.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Loading"
        FRESH = "fresh", "Up to date"
        FAILED = "failed", "Unavailable"

    link = models.ForeignKey(Link, on_delete=models.CASCADE, related_name="snapshots")
    category = models.CharField(max_length=30)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    reason = models.CharField(max_length=300, blank=True)
    items = ItemsField(default=list)
    item_count = models.PositiveIntegerField(default=0)
    withheld_count = models.PositiveIntegerField(
        default=0, help_text="Resources the source sent with the items but not shown."
    )
    withheld_reason = models.CharField(
        max_length=500, blank=True, help_text="What was withheld with the items, and why."
    )
    fetched_at = models.DateTimeField(
        null=True, blank=True, help_text="When the items were read from the source."
    )
    requested_at = models.DateTimeField()
    request_token = models.CharField(
        max_length=32, blank=True, help_text="Which request may save here; a later one wins."
    )
    # The look's budget for this source (records/deadlines.py): past it the reader is told the
    # source timed out, whatever the worker is doing. Null for a snapshot saved before it.
    deadline_at = models.DateTimeField(null=True, blank=True)
    attempt = models.PositiveSmallIntegerField(
        default=0, help_text="Which attempt of this request is running (1 is the first)."
    )
    # Renewed by the worker while it fetches; a pending fetch whose lease ran out was lost with
    # its worker, and is claimed again (by the next look, or the sweep) within the deadline.
    lease_until = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["link", "category"], name="snapshot_unique_category")
        ]
        indexes = [
            models.Index(fields=["expires_at"], name="snapshot_expiry"),
            # The readiness check and the overdue sweep look only at fetches still waiting.
            models.Index(
                fields=["requested_at"],
                name="snapshot_pending_since",
                condition=models.Q(status="pending"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.link} {self.category} {self.status}"


class SourceCircuit(models.Model):
    """A source's recent health: after repeated failures it is left alone for a cool-down."""

    source = models.OneToOneField(SourceSystem, on_delete=models.CASCADE, related_name="circuit")
    consecutive_failures = models.PositiveIntegerField(default=0)
    opened_at = models.DateTimeField(null=True, blank=True)
    open_until = models.DateTimeField(null=True, blank=True)
    trial_started_at = models.DateTimeField(
        null=True, blank=True, help_text="The one attempt let through after the cool-down."
    )
    last_failure_reason = models.CharField(max_length=300, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.source} ({self.consecutive_failures} failures)"


class Heartbeat(models.Model):
    """When a background process last proved it was working: beat by sending its heartbeat task,
    a worker by running one. The readiness check (`/readyz`) reads these."""

    class Process(models.TextChoices):
        BEAT = "beat", "Scheduler (Celery beat)"
        WORKER = "worker", "Task worker (Celery)"

    process = models.CharField(max_length=10, choices=Process.choices, unique=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.get_process_display()} at {self.seen_at:%H:%M:%S}"


def without_restricted_details_in_items(items: list, *, restricted: bool) -> list:
    """Snapshot items with the restricted elements left out of any Patient resource they hold
    (see confidentiality.without_restricted_patients); the same list if nothing changed."""
    kept = []
    for item in items:
        holds = isinstance(item, dict) and may_hold_patient(item)
        resource = stored_resource(item) if holds else None
        if resource is not None:
            cleaned = without_restricted_patients(resource, restricted=restricted)
            if cleaned is not resource:
                item = with_resource(item, cleaned)  # what is left out takes its codings too
        kept.append(item)
    return items if all(a is b for a, b in zip(kept, items, strict=True)) else kept
