"""What patients do in their own part of the portal: the questions they ask about a look (for the
privacy officers to answer), and the trail of their own visits (imported by audit.models).

A patient's visit is not a look by staff: it is kept here, apart from the access events, so that
it can never appear in anyone's list of who has looked at a record.
"""

from django.conf import settings
from django.db import models

from audit.models import AppendOnly


class PatientQuestion(models.Model):
    """A patient's question about one look at their record, and the privacy officer's answer."""

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
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    answer = models.TextField(blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-asked_at"]
        indexes = [
            models.Index(fields=["status", "asked_at"], name="patient_question_queue"),
            models.Index(fields=["patient", "asked_at"], name="patient_question_patient"),
        ]

    def __str__(self) -> str:
        return f"Question about look {self.look_id} asked {self.asked_at:%Y-%m-%d %H:%M}"


class PatientVisit(AppendOnly):
    """One thing a patient did in their own part of the portal, signed in through NHS login."""

    class Action(models.TextChoices):
        SIGNED_IN = "signed_in", "Signed in"
        READ_LOOKS = "read_looks", "Read who has looked at their record"
        ASKED = "asked", "Asked about a look"
        OBJECTED = "objected", "Objected to sharing"
        WITHDREW_OBJECTION = "withdrew_objection", "Withdrew their objection"

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
