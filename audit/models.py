"""Access events: one row per look at a patient's record, append-only and hash-chained.

Rows are never updated or deleted: the ORM refuses, and on PostgreSQL triggers refuse too and the
application's database role may only read and append (audit/privileges.py). Each row's hash
covers its content and the previous row's hash in its chain, and the chains' heads are signed
from time to time (Checkpoint), so an edit made behind the database's back is found by
`manage.py verify_audit`.
"""

from django.conf import settings
from django.db import models

from access.models import AccessBasis


class AppendOnlyError(Exception):
    """Someone tried to change or remove an access event."""


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("Audit entries cannot be changed.")

    def delete(self):
        raise AppendOnlyError("Audit entries cannot be deleted.")


class AppendOnly(models.Model):
    """Rows are written once and never changed or removed through the ORM."""

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None or not self._state.adding:
            raise AppendOnlyError("Audit entries cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Audit entries cannot be deleted.")


class Channel(models.TextChoices):
    """Through what a look or a search came."""

    WEB = "web", "Web portal"
    API = "api", "API"


# The "category" of a look at who a patient is (name, NHS number, date of birth, address, GP: the
# banner without the record), beside the record's headings.
DETAILS = "details"


class AccessEvent(AppendOnly):
    """Who looked at which patient's record, what they saw, when, from where, and on what basis."""

    chain = models.PositiveSmallIntegerField()
    sequence = models.PositiveBigIntegerField()
    occurred_at = models.DateTimeField()
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    username = models.CharField(max_length=150)
    client_id = models.CharField(max_length=100, blank=True)
    end_user = models.CharField(
        max_length=200, blank=True, help_text="For the API: the partner's user the call was for."
    )
    team_id = models.BigIntegerField(null=True)
    team_name = models.CharField(max_length=200, blank=True)
    organisation_ods_code = models.CharField(max_length=10, blank=True)
    role = models.CharField(max_length=30, blank=True)
    patient = models.ForeignKey(
        "records.Patient", on_delete=models.PROTECT, related_name="access_events"
    )
    categories = models.JSONField(default=list)
    resource_ids = models.JSONField(default=list)
    basis = models.CharField(max_length=20, choices=AccessBasis.choices)
    relationship_id = models.BigIntegerField(null=True)
    break_glass_id = models.BigIntegerField(null=True)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    purpose = models.CharField(max_length=30)
    ip_address = models.GenericIPAddressField(null=True)
    user_agent = models.CharField(max_length=300, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    previous_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["-occurred_at"]
        constraints = [
            models.UniqueConstraint(fields=["chain", "sequence"], name="access_event_chain_order")
        ]
        indexes = [
            models.Index(fields=["patient", "occurred_at"], name="access_event_patient"),
            models.Index(fields=["user", "occurred_at"], name="access_event_user"),
        ]

    def __str__(self) -> str:
        return f"{self.username} looked at {self.patient_id} at {self.occurred_at:%Y-%m-%d %H:%M}"

    @property
    def role_label(self) -> str:
        from access.models import Role

        return dict(Role.choices).get(self.role, self.role)

    @property
    def category_labels(self) -> list[str]:
        from records.categories import Category

        labels = {**dict(Category.choices), DETAILS: "Personal details"}
        return [labels.get(category, category).lower() for category in self.categories]


class LookUpdate(AppendOnly):
    """Items an open look's live updates showed that its access event does not name (they
    arrived after the page was drawn): part of that look, not a look of its own."""

    # The look's access event (no foreign key: access events are partitioned on PostgreSQL).
    look_id = models.BigIntegerField()
    occurred_at = models.DateTimeField()
    resource_ids = models.JSONField(default=list)

    class Meta:
        ordering = ["occurred_at"]
        indexes = [models.Index(fields=["look_id"], name="look_update_look")]

    def __str__(self) -> str:
        return f"look {self.look_id} showed {len(self.resource_ids)} more at {self.occurred_at}"


class SearchEvent(AppendOnly):
    """Who searched for whom: a search can reveal that a person is known to care services."""

    occurred_at = models.DateTimeField()
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    username = models.CharField(max_length=150)
    team_name = models.CharField(max_length=200, blank=True)
    organisation_ods_code = models.CharField(max_length=10, blank=True)
    role = models.CharField(max_length=30, blank=True)
    purpose = models.CharField(max_length=40, help_text="What the search was for.")
    query = models.CharField(max_length=200, help_text="What was searched for, as typed.")
    found = models.ForeignKey(
        "records.Patient", null=True, on_delete=models.PROTECT, related_name="search_events"
    )
    channel = models.CharField(max_length=10)
    ip_address = models.GenericIPAddressField(null=True)
    request_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-occurred_at"]
        indexes = [models.Index(fields=["found", "occurred_at"], name="search_event_found")]

    def __str__(self) -> str:
        return f"{self.username} searched at {self.occurred_at:%Y-%m-%d %H:%M}"


class ChainHead(models.Model):
    """The last hash and sequence of one chain; locked while an event is appended to it.

    Events are spread over several chains (by patient) so that looks at different patients do
    not wait for each other.
    """

    chain = models.PositiveSmallIntegerField(primary_key=True)
    sequence = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64, default="0" * 64)

    def __str__(self) -> str:
        return f"chain {self.chain} at {self.sequence}"


class Checkpoint(AppendOnly):
    """Where one chain's head stood at a moment, signed with a key the database does not hold.

    Whoever can write the audit tables can also move a chain's head back or recompute the hashes
    after an edit; they cannot sign a checkpoint without the key (audit/checkpoints.py), and
    each one is copied out of the database as it is made.
    """

    chain = models.PositiveSmallIntegerField()
    sequence = models.PositiveBigIntegerField()
    hash = models.CharField(max_length=64)
    signed_at = models.DateTimeField()
    key_id = models.CharField(
        max_length=64,
        blank=True,
        help_text="SHA-256 of the signing key's public key (DER), in hex; empty for the HMAC "
        "checkpoints written before Ed25519.",
    )
    signature = models.CharField(max_length=128, help_text="Ed25519, in hex.")

    class Meta:
        ordering = ["chain", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["chain", "sequence"], name="audit_checkpoint_order")
        ]

    def __str__(self) -> str:
        return f"chain {self.chain} signed at {self.sequence}"


class SubjectAccessRequest(AppendOnly):
    """A person's request to know who has looked at their record, and what they were sent.

    Written once, when the report is produced for them: which file (format, the looks in it and
    the filters that chose them, its SHA-256), when, by whom, for whom. Append-only like the rest
    of the trail: it is the evidence of what was disclosed, so a mistake is put right by a new
    request, never by changing this one.
    """

    class Requester(models.TextChoices):
        PATIENT = "patient", "The patient"
        REPRESENTATIVE = "representative", "Someone acting for the patient"

    class Format(models.TextChoices):
        PDF = "pdf", "PDF (to read)"
        CSV = "csv", "CSV (a spreadsheet)"
        FHIR = "fhir", "FHIR AuditEvents (for a system)"

    patient = models.ForeignKey(
        "records.Patient", on_delete=models.PROTECT, related_name="subject_access_requests"
    )
    requested_by = models.CharField(max_length=20, choices=Requester.choices)
    requester_name = models.CharField(max_length=200)
    requester_authority = models.CharField(
        max_length=200, blank=True, help_text="For a representative: on what authority they ask."
    )
    received_on = models.DateField()
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_by_username = models.CharField(max_length=150)
    filters = models.JSONField(default=dict, help_text="The report's filters (ReportFilters).")
    format = models.CharField(max_length=10, choices=Format.choices)
    looks = models.PositiveIntegerField(help_text="How many looks the file lists.")
    sent_to = models.CharField(max_length=300, help_text="Who the file goes to, and how.")
    produced_at = models.DateTimeField()
    file_name = models.CharField(max_length=200)
    file_sha256 = models.CharField(max_length=64)

    class Meta:
        ordering = ["-produced_at"]
        indexes = [
            models.Index(fields=["patient", "produced_at"], name="subject_access_patient"),
        ]

    def __str__(self) -> str:
        return f"subject access request for {self.patient_id} at {self.produced_at:%Y-%m-%d}"


# What patients do in their own part of the portal (care_record/patient_portal.py): the questions
# they ask about a look, for the privacy officers to answer, and their own visits. A patient's
# visit is not a look by staff: it is kept apart from the access events, so that it can never
# appear in anyone's list of who has looked at a record.
class PatientQuestion(AppendOnly):
    """A patient's question about one look at their record (answered by a PatientAnswer)."""

    class Status(models.TextChoices):
        OPEN = "open", "Waiting for an answer"
        ANSWERED = "answered", "Answered"

    patient = models.ForeignKey(
        "records.Patient", on_delete=models.PROTECT, related_name="questions"
    )
    # The look's access event (no foreign key: access events are partitioned on PostgreSQL).
    look_id = models.BigIntegerField()
    text = models.TextField()
    asked_at = models.DateTimeField()

    class Meta:
        ordering = ["-asked_at"]
        indexes = [
            models.Index(fields=["asked_at"], name="patient_question_queue"),
            models.Index(fields=["patient", "asked_at"], name="patient_question_patient"),
        ]

    def __str__(self) -> str:
        return f"Question about look {self.look_id} asked {self.asked_at:%Y-%m-%d %H:%M}"

    @property
    def reply_given(self) -> "PatientAnswer | None":
        try:
            return self.reply
        except PatientAnswer.DoesNotExist:
            return None

    @property
    def status(self) -> str:
        return self.Status.ANSWERED if self.reply_given else self.Status.OPEN


class PatientAnswer(AppendOnly):
    """A privacy officer's answer to a patient's question: given once, never changed (so what the
    patient was told is kept as it was told)."""

    question = models.OneToOneField(PatientQuestion, on_delete=models.PROTECT, related_name="reply")
    text = models.TextField()
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    answered_at = models.DateTimeField()

    class Meta:
        ordering = ["-answered_at"]

    def __str__(self) -> str:
        return f"Answer to question {self.question_id} at {self.answered_at:%Y-%m-%d %H:%M}"


class PatientVisit(AppendOnly):
    """One thing a patient did in their own part of the portal, signed in through NHS login."""

    class Action(models.TextChoices):
        SIGNED_IN = "signed_in", "Signed in"
        READ_LOOKS = "read_looks", "Read who has looked at their record"
        ASKED = "asked", "Asked about a look"
        OBJECTED = "objected", "Objected to sharing"
        WITHDREW_OBJECTION = "withdrew_objection", "Withdrew their objection"
        READ_ANSWERS = "read_answers", "Read their questions and the answers"
        SIGNED_OUT = "signed_out", "Signed out"

    patient = models.ForeignKey(
        "records.Patient", on_delete=models.PROTECT, related_name="portal_visits"
    )
    occurred_at = models.DateTimeField()
    action = models.CharField(max_length=30, choices=Action.choices)
    subject = models.CharField(max_length=255, help_text="Who NHS login signed in (its sub).")
    ip_address = models.GenericIPAddressField(null=True)
    request_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-occurred_at"]
        indexes = [models.Index(fields=["patient", "occurred_at"], name="patient_visit_patient")]

    def __str__(self) -> str:
        return f"{self.get_action_display()} at {self.occurred_at:%Y-%m-%d %H:%M}"
