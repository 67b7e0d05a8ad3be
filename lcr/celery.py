"""The Celery application: one per process, configured from Django settings.

Tasks live beside the services they wrap (`records/tasks.py`, ...) and are found by autodiscovery.
"""

import os

from celery import Celery

import lcr.task_metrics  # noqa: F401  (its signals stamp and count every task)
from lcr.broker import use_for_filesystem_urls

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lcr.settings")
use_for_filesystem_urls()

app = Celery("lcr")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
