"""App configuration of the look at a record (no models of its own)."""

from django.apps import AppConfig


class CareRecordConfig(AppConfig):
    name = "care_record"
    verbose_name = "Care record"
