"""The Celery application: one per process, configured from Django settings.

Tasks live beside the services they wrap (`records/tasks.py`, ...) and are found by autodiscovery.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lcr.settings")

app = Celery("lcr")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
