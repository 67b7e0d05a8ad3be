"""What Celery tells Prometheus from inside the processes that send and run tasks: every task
message is stamped with when it was sent, and a worker counts how long each task waited for it.

Imported by lcr/celery.py, so that web processes, beat and workers all stamp what they send.
Nothing here may import Django models: it loads with the Celery app, before Django is set up.
"""

import time

from celery import Task
from celery.signals import before_task_publish, task_prerun
from prometheus_client import Histogram

# Wall-clock seconds at sending, a header of every task message: `/metrics` reads the oldest
# waiting task's age from it (lcr/broker_state.py). A number, never patient data.
SENT_AT_HEADER = "lcr_sent_at"

TASK_WAIT_SECONDS = Histogram(
    "lcr_celery_task_wait_seconds",
    "Time a task waited in the queue before a worker started it (tasks sent for later: "
    "not counted), by task name.",
    ["task"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)


@before_task_publish.connect
def stamp_sent_at(headers: dict | None = None, **kwargs: object) -> None:
    if headers is not None:
        headers[SENT_AT_HEADER] = time.time()


@task_prerun.connect
def count_wait(task: Task | None = None, **kwargs: object) -> None:
    request = getattr(task, "request", None)
    sent_at = getattr(request, SENT_AT_HEADER, None)
    if not isinstance(sent_at, int | float) or getattr(request, "eta", None):
        return  # run here directly (no message), or sent with a countdown: no wait to count
    TASK_WAIT_SECONDS.labels(task=task.name).observe(max(0.0, time.time() - sent_at))
