"""Shared fixtures: users, the demo population, simulated sources over real HTTP, a Celery worker.

Tests use whatever DATABASE_URL and CELERY_BROKER_URL say (PostgreSQL and Redis in CI's second
run); with neither set they use SQLite and Celery's in-memory broker, still with a real worker.
"""

import contextlib
import copy
import importlib
import os
import tempfile
import uuid
from pathlib import Path

import psycopg
import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.test import TransactionTestCase

from audit.privileges import as_owner
from demo.population import Population, generate
from demo.sources import SimulatedSource
from lcr.celery import app as celery_app
from tests.factories import UserFactory

# Tests speak plain HTTP to the test server, as the local demo does.
settings.SECURE_SSL_REDIRECT = False
settings.SESSION_COOKIE_SECURE = False
settings.CSRF_COOKIE_SECURE = False
# Pages find static files through the finders, without a collectstatic manifest.
settings.STORAGES = {
    **settings.STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
settings.WHITENOISE_USE_FINDERS = True
# Passwords and API client secrets are hashed like passwords: tests need not pay for PBKDF2.
settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Most tests sign their users in with a password, as a trial without an identity provider would:
# tests/test_oidc_signin.py holds sign-in through providers, and the default ("off") to its word.
settings.LCR_PASSWORD_SIGN_IN = "everyone"
Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)
# Live updates' file channel (records/live.py) of this run's own, apart from `make run`'s and any
# other run's on this machine.
settings.LCR_LIVE_DIR = tempfile.mkdtemp(prefix="lcr-live-")
# Audit checkpoints written out of the database (audit/checkpoints.py) go to a file of each
# test's own: one shared by tests whose rows were rolled back would hold checkpoints of chains
# that are no longer there.
_CHECKPOINT_FILES = Path(tempfile.mkdtemp(prefix="lcr-checkpoints-"))


@pytest.fixture(autouse=True)
def _checkpoint_file_of_its_own() -> None:
    settings.LCR_AUDIT_CHECKPOINT_FILE = str(_CHECKPOINT_FILES / f"{uuid.uuid4().hex}.jsonl")


@pytest.fixture(autouse=True)
def _an_empty_cache() -> None:
    """Each test starts with nothing cached. Rolled-back rows give their ids again, and test
    sources take whatever port is free, so a key such as a source's capabilities (its pk and base
    URL) could otherwise find what an earlier test's source said: a heading it did not serve."""
    cache.clear()


if "CELERY_BROKER_URL" not in os.environ:
    celery_app.conf.broker_url = "memory://"
    celery_app.conf.broker_transport_options = {"polling_interval": 0.05}
# A queue of this run's own, so that a shared broker never hands our tasks to anyone else's worker.
celery_app.conf.task_default_queue = f"lcr-test-{uuid.uuid4().hex[:12]}"

# On PostgreSQL the tests run as production does (docs/audit.md): the test database is made and
# migrated by the owner of the tables, and the tests connect as the application's role, which
# may only read and append to the audit trail. Given only DATABASE_URL (a developer's superuser,
# as in the README), that is the owner's, and the application is the role lcr_app, which migrate
# creates. The owner must be a superuser here: emptying the database after a test in a real
# transaction switches the audit triggers off (see _emptied_by_the_owner).
ON_POSTGRES = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
if ON_POSTGRES and settings.LCR_DATABASE_OWNER is None:
    settings.LCR_DATABASE_OWNER = copy.deepcopy(settings.DATABASES["default"])
    settings.DATABASES["default"].update({"USER": "lcr_app", "PASSWORD": ""})
_test_database_owner = contextlib.ExitStack()
# A read replica's alias, as DATABASE_REPLICA_URL adds one, mirroring the test database (Django's
# TEST MIRROR: another connection to the same database). Nothing is sent to it unless a test
# installs the router (tests/test_replica.py); with DATABASE_REPLICA_URL set, settings made it.
if "replica" not in settings.DATABASES:
    settings.DATABASES["replica"] = {
        **copy.deepcopy(settings.DATABASES["default"]),
        "TEST": {**settings.DATABASES["default"]["TEST"], "MIRROR": "default"},
    }


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings):
    """The test database is made and migrated by the owner (as `make run` or a deploy would)."""
    _test_database_owner.enter_context(as_owner())


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Then every test connects as the application; the owner drops the database at the end."""
    with django_db_blocker.unblock():
        _test_database_owner.close()
    yield
    _test_database_owner.enter_context(as_owner())


_empty_the_database = TransactionTestCase._fixture_teardown


def _emptied_by_the_owner(self) -> None:
    """After a test in a real transaction Django empties every table with TRUNCATE, which the
    audit trail refuses to the application (no privilege) and to everyone else (its triggers):
    the owner does it with triggers off, as restoring a backup would."""
    with as_owner():
        if ON_POSTGRES:
            with connection.cursor() as cursor:
                cursor.execute("SET session_replication_role = replica")
        _empty_the_database(self)


TransactionTestCase._fixture_teardown = _emptied_by_the_owner


class DatabaseOwner:
    """Statements run by someone holding the owner's (or a superuser's) login."""

    def __init__(self, cursor) -> None:
        self.cursor = cursor

    def execute(self, sql: str, params: list | None = None):
        self.cursor.execute(sql, params)
        return self.cursor

    def switch_off_triggers(self) -> None:
        """As a superuser may (the owner would ALTER TABLE ... DISABLE TRIGGER, table by table)."""
        if ON_POSTGRES:
            self.cursor.execute("SET session_replication_role = replica")


@pytest.fixture
def database_owner(transactional_db):
    """The owner behind the application's back, on a connection of their own (so the test is in
    a real transaction: they see only what the application committed). On SQLite, which has no
    roles and no triggers, the tests' own connection."""
    if not ON_POSTGRES:
        yield DatabaseOwner(connection.cursor())
        return
    owner = settings.LCR_DATABASE_OWNER
    with psycopg.connect(
        dbname=connection.settings_dict["NAME"],
        user=owner["USER"],
        password=owner["PASSWORD"] or None,
        host=owner["HOST"] or None,
        port=owner["PORT"] or None,
        autocommit=True,
    ) as owners:
        yield DatabaseOwner(owners.cursor())


@pytest.fixture
def client(client):
    """The test client, whose force_login also counts as having passed the second factor.

    force_login skips signing in altogether, so it skips what comes with it: the tests of signing
    in (tests/test_signin.py and the browser tests) go through the real pages instead."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from lcr.signin import needs_second_factor

    force_login = client.force_login

    def force_login_with_second_factor(user, backend=None):
        force_login(user, backend)
        if needs_second_factor(user):
            device, _ = TOTPDevice.objects.get_or_create(
                user=user, name="test device", defaults={"confirmed": True}
            )
            session = client.session
            session[DEVICE_ID_SESSION_KEY] = device.persistent_id
            session.save()

    client.force_login = force_login_with_second_factor
    return client


@pytest.fixture
def reviewer(db):
    return UserFactory(username="reviewer", first_name="Rita", last_name="Reviewer")


@pytest.fixture(scope="session")
def population() -> Population:
    """A small synthetic population, the same in every run."""
    return generate(seed=7, patients=60)


@pytest.fixture
def simulated_source(population):
    """Start simulated FHIR sources on free loopback ports; stopped after the test."""
    started: list[SimulatedSource] = []

    def start(source_key: str) -> SimulatedSource:
        source = SimulatedSource(population, source_key).start()
        started.append(source)
        return source

    yield start
    for source in started:
        source.stop()


def _transactional(request: pytest.FixtureRequest) -> bool:
    marker = request.node.get_closest_marker("django_db")
    return bool(
        {"transactional_db", "live_server", "celery_worker"} & set(request.fixturenames)
        or (marker and marker.kwargs.get("transaction"))
    )


@pytest.fixture(autouse=True)
def seeded_after_emptying(request: pytest.FixtureRequest) -> None:
    """A test in a real transaction (live server, worker) empties the database afterwards,
    including what migrations seeded, so the next one would find no role policies and every
    record refused. They are seeded again the migration's own way, and the cached id of the
    view-record permission and the content types (made afresh after each emptying) are
    forgotten."""
    if not _transactional(request):
        return
    request.getfixturevalue("transactional_db")
    from django.apps import apps
    from django.contrib.contenttypes.models import ContentType
    from django.core.management.sql import emit_post_migrate_signal

    from access.policy import view_record_permission_id

    ContentType.objects.clear_cache()  # their ids are new too
    if not ContentType.objects.exists():  # emptied without post_migrate (serialized rollback)
        emit_post_migrate_signal(verbosity=0, interactive=False, db="default")
    importlib.import_module("access.migrations.0002_role_policies").seed(apps, None)
    importlib.import_module(
        "access.migrations.0007_sign_in_and_launch"
    ).council_staff_sign_in_with_two_factors(apps, None)
    view_record_permission_id.cache_clear()


@pytest.fixture
def celery_worker(transactional_db):
    """A real Celery worker consuming from the configured broker, in a thread of this process."""
    with start_worker(
        celery_app, pool="threads", concurrency=6, perform_ping_check=False, loglevel="WARNING"
    ) as worker:
        yield worker


def pytest_report_header(config) -> list[str]:
    database = settings.DATABASES["default"]
    return [
        f"database: {database['ENGINE'].rsplit('.', 1)[-1]} {database.get('NAME')}",
        f"celery broker: {celery_app.conf.broker_url.split('@')[-1]}",
    ]


def pytest_collection_modifyitems(config, items) -> None:
    """Tests marked `postgresql` (what only PostgreSQL does: two connections at once waiting on
    each other's rows) run there and are deselected, not skipped, on SQLite."""
    if ON_POSTGRES:
        return
    deselected = [item for item in items if item.get_closest_marker("postgresql")]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not item.get_closest_marker("postgresql")]
