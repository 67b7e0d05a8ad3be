"""The shared care record project: settings, URLs and the Celery app.

Importing the package loads the Celery app so that `shared_task`s bind to it.
"""

from lcr.celery import app as celery_app

__all__ = ("celery_app",)
