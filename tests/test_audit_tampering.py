"""What someone holding the database's own login could do to the trail behind the application's
back, and how `verify_audit` finds it: each outcome a sentence and an exit status, never a
traceback. On PostgreSQL the tampering is done on the owner's own connection with the audit
triggers off, as only the owner or a superuser could."""

import os
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection

from audit.chain import content_of, event_hash
from audit.checkpoints import sign_checkpoints
from audit.integrity import chain_heads, verify_appended
from audit.models import AccessEvent, Checkpoint
from tests.factories import PatientFactory, UserFactory, a_look, ed25519_key

pytestmark = pytest.mark.django_db
ON_POSTGRES = connection.vendor == "postgresql"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def trail(database_owner):
    """Three looks at one patient (one chain), committed; and the owner, triggers off."""
    patient, user = PatientFactory(), UserFactory()
    events = [a_look(patient, user) for _ in range(3)]
    database_owner.switch_off_triggers()
    return events, database_owner


def broken(returncode: int = 1) -> str:
    """verify_audit's verdict on a broken trail (and that it says broken, not intact)."""
    with pytest.raises(CommandError) as raised:
        call_command("verify_audit")
    assert raised.value.returncode == returncode
    return str(raised.value)


def test_an_intact_trail_is_reported_intact_with_what_vouches_for_it(trail, capsys):
    sign_checkpoints()
    a_look(AccessEvent.objects.first().patient, UserFactory())

    call_command("verify_audit")

    out = capsys.readouterr().out
    assert "All 4 access events in 1 chains are intact." in out
    assert "1 signed checkpoints and 1 in the checkpoint file; 1 written since" in out


def test_an_edited_row_is_named(trail):
    events, owner = trail
    owner.execute("UPDATE audit_accessevent SET username = %s WHERE id = %s", ["x", events[1].pk])

    assert f"sequence 2 (access event {events[1].pk}): its content has been changed" in broken()


def test_rows_removed_from_the_end_are_found_by_the_chain_head(trail):
    events, owner = trail
    owner.execute("DELETE FROM audit_accessevent WHERE id = %s", [events[-1].pk])

    assert "rows are missing from its end (head at 3)" in broken()


def test_an_emptied_trail_is_found_by_its_chain_heads(trail):
    _, owner = trail
    owner.execute("TRUNCATE audit_accessevent" if ON_POSTGRES else "DELETE FROM audit_accessevent")

    assert "chain heads exist but their events are gone" in broken()


def test_the_last_row_removed_and_its_head_moved_back_is_found_by_a_signed_checkpoint(trail):
    events, owner = trail
    sign_checkpoints()
    owner.execute("DELETE FROM audit_accessevent WHERE id = %s", [events[-1].pk])
    owner.execute(
        "UPDATE audit_chainhead SET sequence = %s, hash = %s WHERE chain = %s",
        [2, events[1].hash, events[1].chain],
    )

    assert "rows are missing from its end (checkpoint at 3)" in broken()


def test_hashes_recomputed_with_the_published_algorithm_are_found_by_a_signed_checkpoint(trail):
    events, owner = trail
    sign_checkpoints()
    previous = events[0].hash
    for event in AccessEvent.objects.filter(pk__in=[e.pk for e in events[1:]]).order_by("sequence"):
        event.username = "someone else"  # the edit, then every later hash made to follow it
        digest = event_hash(previous, content_of(event))
        owner.execute(
            "UPDATE audit_accessevent SET username = %s, previous_hash = %s, hash = %s "
            "WHERE id = %s",
            [event.username, previous, digest, event.pk],
        )
        previous = digest
    owner.execute(
        "UPDATE audit_chainhead SET hash = %s WHERE chain = %s", [previous, events[0].chain]
    )

    assert f"sequence 3 (access event {events[2].pk})" in (verdict := broken())
    assert "the chain has been rewritten" in verdict


def test_a_checkpoint_not_signed_with_the_key_is_named(trail):
    events, owner = trail
    sign_checkpoints()
    forged = Checkpoint.objects.get()
    owner.execute("UPDATE audit_checkpoint SET signature = %s", ["0" * 128])

    assert (
        f"Checkpoint {forged.pk} of chain {events[0].chain} (sequence 3) is not signed by any of "
        "the known keys: its signature does not verify: it was altered or forged."
    ) in broken()


def test_checkpoints_verify_with_the_key_they_were_signed_with_or_a_former_one(settings, capsys):
    a_look(PatientFactory(), UserFactory())
    of_2026, public_of_2026 = ed25519_key()
    settings.LCR_AUDIT_SIGNING_KEY = of_2026
    sign_checkpoints()

    settings.LCR_AUDIT_SIGNING_KEY = ed25519_key()[0]
    assert "which is not one of the known keys" in broken()

    settings.LCR_AUDIT_VERIFY_KEYS = public_of_2026
    call_command("verify_audit")
    assert "are intact" in capsys.readouterr().out


def test_the_checkpoint_task_signs_each_head_that_moved_once_and_logs_it(caplog):
    first, second = PatientFactory(), PatientFactory()
    assert first.pk % settings.LCR_AUDIT_CHAINS != second.pk % settings.LCR_AUDIT_CHAINS
    user = UserFactory()
    a_look(first, user)
    looked = a_look(second, user)

    assert {(c.chain, c.sequence) for c in sign_checkpoints()} == {
        (first.pk % settings.LCR_AUDIT_CHAINS, 1),
        (looked.chain, 1),
    }
    assert sign_checkpoints() == []  # nothing moved
    a_look(second, user)
    assert [(c.chain, c.sequence) for c in sign_checkpoints()] == [(looked.chain, 2)]
    assert f"audit checkpoint chain={looked.chain} sequence=2 hash=" in caplog.text


def verify_audit_as_a_command(database_url: str) -> subprocess.CompletedProcess:
    """`manage.py verify_audit` as an operator runs it, in its own process."""
    env = {
        **{k: v for k, v in os.environ.items() if k != "MIGRATION_DATABASE_URL"},
        "DATABASE_URL": database_url,
        "LCR_AUDIT_SIGNING_KEY": settings.LCR_AUDIT_SIGNING_KEY,
        "LCR_AUDIT_CHECKPOINT_FILE": settings.LCR_AUDIT_CHECKPOINT_FILE,
    }
    return subprocess.run(
        [sys.executable, "manage.py", "verify_audit"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def this_test_database_url() -> str:
    database = connection.settings_dict
    if not ON_POSTGRES:
        return f"sqlite:///{database['NAME']}"
    password = f":{quote(database['PASSWORD'])}" if database["PASSWORD"] else ""
    return (
        f"postgres://{quote(database['USER'])}{password}@{database['HOST'] or '127.0.0.1'}:"
        f"{database['PORT'] or 5432}/{database['NAME']}"
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.integration
def test_verify_audit_says_intact_broken_or_unreadable_and_never_prints_a_traceback(trail):
    events, owner = trail

    intact = verify_audit_as_a_command(this_test_database_url())
    assert (intact.returncode, intact.stderr) == (0, "")
    assert "All 3 access events in 1 chains are intact." in intact.stdout

    owner.execute("UPDATE audit_accessevent SET username = %s WHERE id = %s", ["x", events[0].pk])
    tampered = verify_audit_as_a_command(this_test_database_url())
    assert tampered.returncode == 1
    assert f"Chain {events[0].chain} is broken at sequence 1" in tampered.stderr
    assert "Traceback" not in tampered.stderr and "Exception ignored" not in tampered.stderr

    unreachable = verify_audit_as_a_command(f"postgres://nobody@127.0.0.1:{free_port()}/lcr")
    assert unreachable.returncode == 2
    assert "The audit trail could not be read, so it was not checked" in unreachable.stderr
    assert "Traceback" not in unreachable.stderr


def test_what_was_appended_since_earlier_heads_is_checked_from_where_each_head_stood(trail):
    events, owner = trail
    since = chain_heads()
    later = [a_look(events[0].patient, UserFactory()) for _ in range(2)]

    intact = verify_appended(since)
    assert (intact.chains, intact.events, intact.problems) == (1, 2, [])
    # An edit before `since` is not what this walk is about; one after it is named.
    owner.execute("UPDATE audit_accessevent SET username = %s WHERE id = %s", ["x", events[0].pk])
    assert verify_appended(since).problems == []
    owner.execute("UPDATE audit_accessevent SET username = %s WHERE id = %s", ["x", later[1].pk])
    assert verify_appended(since).problems == [
        f"Chain {later[1].chain} is broken at sequence 5 (access event {later[1].pk}): "
        "its content has been changed."
    ]


def test_an_appended_event_that_does_not_follow_the_earlier_head_is_named(trail):
    events, owner = trail
    since = chain_heads()
    appended = a_look(events[0].patient, UserFactory())
    owner.execute(
        "UPDATE audit_accessevent SET previous_hash = %s WHERE id = %s", ["0" * 64, appended.pk]
    )

    assert verify_appended(since).problems == [
        f"Chain {appended.chain} is broken at sequence 4 (access event {appended.pk}): "
        "it does not follow the row before."
    ]
