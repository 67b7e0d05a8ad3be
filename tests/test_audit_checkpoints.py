"""Checkpoints vouch for the trail from outside the database: signed with an Ed25519 key the
database does not hold, copied to a file and a sink as they are made, checked by `verify_audit`
against both, and by a third party with the public key alone (docs/audit.md)."""

import json
import os
import shutil
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from django.conf import settings
from django.core.checks import run_checks
from django.core.management import CommandError, call_command
from django.utils import timezone
from django.utils.crypto import salted_hmac

from audit.chain import content_of, event_hash
from audit.checkpoints import CheckpointNotWrittenOut, sign_checkpoints
from audit.models import AccessEvent, Checkpoint
from audit.signing_keys import SigningKeyError, generated_key_path, signing_key
from audit.tasks import sign_audit_checkpoints
from lcr.celery import app as celery_app
from tests.factories import PatientFactory, UserFactory, a_look, ed25519_key

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent
SINK = "tests.test_audit_checkpoints.sink"
FAILING_SINK = "tests.test_audit_checkpoints.failing_sink"
received: list[dict] = []


def sink(checkpoint: dict) -> None:
    received.append(checkpoint)


def failing_sink(checkpoint: dict) -> None:
    raise ConnectionError("the bucket did not answer")


@pytest.fixture
def trail(database_owner):
    """Three looks at one patient (one chain), committed and signed; the owner, triggers off."""
    patient, user = PatientFactory(), UserFactory()
    events = [a_look(patient, user) for _ in range(3)]
    sign_checkpoints()
    database_owner.switch_off_triggers()
    return events, database_owner


def broken(returncode: int = 1) -> str:
    with pytest.raises(CommandError) as raised:
        call_command("verify_audit")
    assert raised.value.returncode == returncode
    assert "Traceback" not in str(raised.value)
    return str(raised.value)


def checkpoint_lines() -> list[dict]:
    return [json.loads(line) for line in Path(settings.LCR_AUDIT_CHECKPOINT_FILE).open()]


def rewrite_from(owner, events: list, first: int) -> None:
    """Edit events[first] and recompute every later hash and the head, with the published
    algorithm, as the owner could."""
    previous = events[first].previous_hash
    for event in AccessEvent.objects.filter(pk__in=[e.pk for e in events[first:]]).order_by(
        "sequence"
    ):
        event.username = "someone else"
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


def public_key_file(directory: Path) -> Path:
    path = directory / "audit-public-key.pem"
    path.write_text(call_and_read("audit_public_key"))
    return path


def third_party_verifier(directory: Path, *arguments: str) -> subprocess.CompletedProcess:
    """`python -m audit.verify_checkpoint` from a directory holding only the two files the
    documentation says to copy: no Django, no settings, no database."""
    package = directory / "verifier" / "audit"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    for name in ("chain.py", "verify_checkpoint.py"):
        shutil.copy(ROOT / "audit" / name, package / name)
    environment = {"PATH": os.environ["PATH"], "PYTHONPATH": str(package.parent)}
    return subprocess.run(
        [sys.executable, "-m", "audit.verify_checkpoint", *arguments],
        cwd=package.parent,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_signed_checkpoint_verifies_with_the_public_key_alone(tmp_path):
    looked = a_look(PatientFactory(), UserFactory())
    [checkpoint] = sign_checkpoints()
    public_key = public_key_file(tmp_path)

    verified = third_party_verifier(
        tmp_path, "--public-key", str(public_key), settings.LCR_AUDIT_CHECKPOINT_FILE
    )

    assert (verified.returncode, verified.stderr) == (0, "")
    assert f"chain {looked.chain} at sequence 1, hash {looked.hash}" in verified.stdout
    assert "1 of 1 checkpoints verified." in verified.stdout
    # The documented message, rebuilt by hand: the line without its signature, canonical JSON.
    [line] = checkpoint_lines()
    signature = bytes.fromhex(line.pop("signature"))
    message = json.dumps(line, sort_keys=True, separators=(",", ":")).encode()
    load_pem_public_key(public_key.read_bytes()).verify(signature, message)
    assert line["key_id"] == checkpoint.key_id
    assert line["signed_at"] == checkpoint.signed_at.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_an_export_of_a_chain_is_held_against_its_checkpoint_by_a_third_party(tmp_path):
    patient, user = PatientFactory(), UserFactory()
    events = [a_look(patient, user) for _ in range(3)]
    sign_checkpoints()
    exported = tmp_path / "chain.jsonl"
    exported.write_text(call_and_read("export_audit_chain", "--chain", str(events[0].chain)))
    public_key = public_key_file(tmp_path)

    agrees = third_party_verifier(
        tmp_path,
        "--public-key",
        str(public_key),
        "--events",
        str(exported),
        settings.LCR_AUDIT_CHECKPOINT_FILE,
    )
    assert agrees.returncode == 0, agrees.stderr
    assert f"The export of chain {events[0].chain} reaches this checkpoint" in agrees.stdout

    lines = exported.read_text().splitlines()
    edited = json.loads(lines[1])
    edited["username"] = "someone else"
    exported.write_text("\n".join([lines[0], json.dumps(edited), lines[2]]) + "\n")
    shutil.rmtree(tmp_path / "verifier")
    refused = third_party_verifier(
        tmp_path,
        "--public-key",
        str(public_key),
        "--events",
        str(exported),
        settings.LCR_AUDIT_CHECKPOINT_FILE,
    )
    assert refused.returncode == 1
    assert "sequence 2) does not hash to its recorded hash" in refused.stderr


def test_an_edit_with_every_later_hash_and_the_head_recomputed_is_caught_by_the_checkpoint(
    trail,
):
    events, owner = trail
    rewrite_from(owner, events, 0)

    verdict = broken()
    assert f"Chain {events[0].chain} is broken at sequence 3" in verdict
    assert "it is not the event signed at this place in a checkpoint" in verdict


def test_checkpoint_rows_removed_with_the_rewrite_are_caught_through_the_file(trail):
    events, owner = trail
    rewrite_from(owner, events, 1)
    owner.execute("DELETE FROM audit_checkpoint")

    verdict = broken()
    assert (
        f"The checkpoint file holds 1 checkpoints of chain {events[0].chain} that the table does "
        "not (the latest at sequence 3): checkpoint rows were removed."
    ) in verdict
    assert "the chain has been rewritten" in verdict


def test_events_and_checkpoints_removed_from_the_end_are_caught_through_the_file(trail):
    events, owner = trail
    owner.execute("DELETE FROM audit_checkpoint")
    owner.execute("DELETE FROM audit_accessevent WHERE id = %s", [events[-1].pk])
    owner.execute(
        "UPDATE audit_chainhead SET sequence = %s, hash = %s WHERE chain = %s",
        [2, events[1].hash, events[0].chain],
    )

    assert "rows are missing from its end (checkpoint at 3)" in broken()


def test_the_checkpoint_file_removed_while_the_table_holds_checkpoints_is_named(trail):
    Path(settings.LCR_AUDIT_CHECKPOINT_FILE).unlink()

    assert "is missing while the table holds signed checkpoints" in broken()


def test_a_checkpoint_signed_by_another_key_is_refused_in_the_table_and_the_file(trail, settings):
    events, _ = trail
    stranger = ed25519_key()[0]
    good = settings.LCR_AUDIT_SIGNING_KEY
    settings.LCR_AUDIT_SIGNING_KEY = stranger
    a_look(events[0].patient, UserFactory())
    [forged] = sign_checkpoints()  # as someone holding another key would make one
    settings.LCR_AUDIT_SIGNING_KEY = good
    stranger_id = forged.key_id

    verdict = broken()
    assert (
        f"Checkpoint {forged.pk} of chain {forged.chain} (sequence 4) is not signed by any of the "
        f"known keys: it is signed with key {stranger_id}, which is not one of the known keys."
    ) in verdict
    assert "Line 2 of the checkpoint file" in verdict


def test_a_tampered_or_garbled_line_of_the_checkpoint_file_is_refused(trail, tmp_path):
    events, _ = trail
    path = Path(settings.LCR_AUDIT_CHECKPOINT_FILE)
    [line] = checkpoint_lines()
    moved_back = {**line, "sequence": 2, "hash": events[1].hash}
    path.write_text(json.dumps(moved_back) + "\nnot a checkpoint\n")

    verdict = broken()
    assert f"Line 1 of the checkpoint file {path} is refused: its signature does not verify" in (
        verdict
    )
    assert "Line 2 of the checkpoint file" in verdict and "it is not a checkpoint" in verdict

    refused = third_party_verifier(
        tmp_path, "--public-key", str(public_key_file(tmp_path)), str(path)
    )
    assert refused.returncode == 1
    assert "Line 1 of" in refused.stderr and "its signature does not verify" in refused.stderr


def test_the_signing_task_goes_to_the_queue_of_the_signing_worker_the_setting_names():
    # By default the default queue, which the one worker of `make run` reads.
    route = celery_app.amqp.router.route({}, "audit.tasks.sign_audit_checkpoints", (), {})
    assert route["queue"].name == settings.CELERY_TASK_DEFAULT_QUEUE == "celery"
    entry = settings.CELERY_BEAT_SCHEDULE["sign-audit-checkpoints"]
    assert entry["options"]["queue"] == settings.LCR_AUDIT_SIGNING_QUEUE == "celery"

    named = subprocess.run(
        [sys.executable, "-c", ROUTES],
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("CELERY_TASK_DEFAULT")},
            "DJANGO_SETTINGS_MODULE": "lcr.settings",
            "LCR_AUDIT_SIGNING_QUEUE": "audit-signing",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(named.stdout) == {
        "beat": "audit-signing",
        "signing": "audit-signing",
        "heartbeat": "celery",
        "partitions": "celery",
    }


ROUTES = """
import json
import django
django.setup()
from django.conf import settings
from lcr.celery import app
def queue(task):
    return app.amqp.router.route({}, task, (), {})["queue"].name
print(json.dumps({
    "beat": settings.CELERY_BEAT_SCHEDULE["sign-audit-checkpoints"]["options"]["queue"],
    "signing": queue("audit.tasks.sign_audit_checkpoints"),
    "heartbeat": queue("records.tasks.heartbeat"),
    "partitions": queue("audit.tasks.add_audit_partitions"),
}))
"""


@pytest.fixture
def verify_only_host(settings, tmp_path):
    """Checkpoints signed on the signing worker; then this host, with the public key alone (no
    private key set, none made for the checkout)."""
    private, public = ed25519_key()
    settings.LCR_AUDIT_SIGNING_KEY = private
    patient = PatientFactory()
    looked = [a_look(patient, UserFactory()) for _ in range(2)]
    sign_checkpoints()
    public_file = tmp_path / "audit-public-key.pem"
    public_file.write_text(public)
    settings.LCR_AUDIT_SIGNING_KEY = ""
    settings.LCR_AUDIT_PUBLIC_KEY_FILE = str(public_file)
    settings.VAR_DIR = tmp_path / "var"
    return looked, public


def test_a_host_with_the_public_key_alone_verifies_and_passes_its_checks(verify_only_host):
    _, public = verify_only_host

    assert "All 2 access events in 1 chains are intact." in call_and_read("verify_audit")
    found = {m.id for m in run_checks(include_deployment_checks=True)}
    assert not found & {"audit.E001", "audit.W002", "audit.W003"}
    assert call_and_read("audit_public_key") == public


def test_a_host_with_the_public_key_alone_refuses_to_sign_and_makes_no_key(verify_only_host):
    looked, _ = verify_only_host
    a_look(looked[0].patient, UserFactory())

    with pytest.raises(CommandError) as raised:
        call_command("sign_audit_checkpoint")
    assert raised.value.returncode == 2
    assert "This host has only the public key (LCR_AUDIT_PUBLIC_KEY or" in str(raised.value)
    assert "does not sign them" in str(raised.value)
    assert Checkpoint.objects.count() == 1
    assert len(checkpoint_lines()) == 1
    assert not generated_key_path().exists()


def test_a_signing_key_that_cannot_be_read_where_the_public_key_is_set_is_only_a_warning(
    verify_only_host, settings, tmp_path
):
    settings.LCR_AUDIT_SIGNING_KEY_FILE = str(tmp_path / "not-on-this-host.pem")

    messages = {m.id: m.msg for m in run_checks()}
    assert "audit.E001" not in messages
    assert "This host cannot sign audit checkpoints" in messages["audit.W003"]
    assert "are intact" in call_and_read("verify_audit")


def test_a_public_key_that_cannot_be_used_or_is_not_the_signing_keys_is_a_check_error(
    verify_only_host, settings, tmp_path
):
    settings.LCR_AUDIT_PUBLIC_KEY_FILE = str(tmp_path / "missing.pem")
    [error] = [m for m in run_checks() if m.id == "audit.E001"]
    assert "LCR_AUDIT_PUBLIC_KEY_FILE" in error.msg and "cannot be read" in error.msg
    with pytest.raises(CommandError) as raised:
        call_command("verify_audit")
    assert raised.value.returncode == 2

    other_private, other_public = ed25519_key()
    settings.LCR_AUDIT_PUBLIC_KEY_FILE = ""
    settings.LCR_AUDIT_PUBLIC_KEY = other_public
    settings.LCR_AUDIT_SIGNING_KEY = ed25519_key()[0]  # not other_public's private half
    [error] = [m for m in run_checks() if m.id == "audit.E001"]
    assert "is not the private half of the public key" in error.msg
    with pytest.raises(SigningKeyError, match="would not verify"):
        sign_checkpoints()

    settings.LCR_AUDIT_SIGNING_KEY = other_private
    assert not {m.id for m in run_checks()} & {"audit.E001", "audit.W003"}


def test_checkpoints_are_signed_every_hour_by_the_existing_periodic_task():
    entry = settings.CELERY_BEAT_SCHEDULE["sign-audit-checkpoints"]

    assert entry["task"] == "audit.tasks.sign_audit_checkpoints"
    assert entry["schedule"] == 3600.0
    assert sign_audit_checkpoints.name == entry["task"]
    looked = a_look(PatientFactory(), UserFactory())
    assert sign_audit_checkpoints.apply().get() == 1
    assert [(line["chain"], line["sequence"]) for line in checkpoint_lines()] == [(looked.chain, 1)]


def test_on_demand_signing_signs_only_heads_that_moved():
    looked = a_look(PatientFactory(), UserFactory())

    signed = call_and_read("sign_audit_checkpoint")
    assert f"Signed chain {looked.chain} at sequence 1 (hash {looked.hash})." in signed
    assert "No chain head has moved" in call_and_read("sign_audit_checkpoint")
    assert len(checkpoint_lines()) == 1


def test_the_sink_receives_each_checkpoint_as_the_file_holds_it(settings):
    received.clear()
    settings.LCR_AUDIT_CHECKPOINT_SINK = SINK
    first, second = PatientFactory(), PatientFactory()
    a_look(first, UserFactory())
    a_look(second, UserFactory())

    signed = sign_checkpoints()

    assert len(signed) == 2
    assert received == checkpoint_lines()
    assert {(c["chain"], c["sequence"]) for c in received} == {(c.chain, 1) for c in signed}


def test_a_sink_that_fails_is_reported_and_the_checkpoint_handed_to_it_at_the_next_run(
    settings,
):
    settings.LCR_AUDIT_CHECKPOINT_SINK = FAILING_SINK
    looked = a_look(PatientFactory(), UserFactory())

    with pytest.raises(CheckpointNotWrittenOut, match="not handed to the sink: the bucket"):
        sign_checkpoints()

    assert Checkpoint.objects.get().sequence == looked.sequence
    # The file's line says "written out": it waits for the sink, and verify_audit names the gap.
    assert not Path(settings.LCR_AUDIT_CHECKPOINT_FILE).exists()
    assert "is missing while the table holds signed checkpoints" in broken()

    received.clear()
    settings.LCR_AUDIT_CHECKPOINT_SINK = SINK
    assert f"Wrote out again chain {looked.chain} at sequence 1" in (
        call_and_read("sign_audit_checkpoint")
    )
    assert received == checkpoint_lines()
    assert [(c["chain"], c["sequence"]) for c in received] == [(looked.chain, 1)]
    assert "are intact" in call_and_read("verify_audit")
    assert "No chain head has moved" in call_and_read("sign_audit_checkpoint")
    assert len(received) == 1


def test_the_checkpoint_file_emptied_after_signing_is_reported_and_written_again(trail):
    events, _ = trail
    path = Path(settings.LCR_AUDIT_CHECKPOINT_FILE)
    path.write_text("")

    verdict = broken()
    assert (
        f"The checkpoint file {path} lacks 1 signed checkpoints of chain {events[0].chain} that "
        "the table holds (the latest at sequence 3): the file was truncated or rolled back, or "
        "it is not the signing host's file (LCR_AUDIT_CHECKPOINT_FILE)"
    ) in verdict

    assert f"Wrote out again chain {events[0].chain} at sequence 3" in (
        call_and_read("sign_audit_checkpoint")
    )
    assert "are intact" in call_and_read("verify_audit")


def test_the_checkpoint_file_rolled_back_to_an_earlier_copy_is_reported(trail):
    events, _ = trail
    path = Path(settings.LCR_AUDIT_CHECKPOINT_FILE)
    earlier = path.read_text()
    second = PatientFactory()
    a_look(second, UserFactory())
    a_look(events[0].patient, UserFactory())
    sign_checkpoints()
    assert len(checkpoint_lines()) == 3
    path.write_text(earlier)  # the backup of an hour ago put back

    verdict = broken()
    assert (
        f"lacks 1 signed checkpoints of chain {events[0].chain} that the table holds (the latest "
        "at sequence 4)"
    ) in verdict
    assert f"lacks 1 signed checkpoints of chain {second.pk % settings.LCR_AUDIT_CHAINS}" in (
        verdict
    )
    assert "truncated or rolled back" in verdict


def test_a_checkpoint_whose_write_to_the_file_failed_is_written_at_the_next_run(settings, tmp_path):
    # The file's folder cannot be made (a file stands in its place) at the first run.
    blocked = tmp_path / "checkpoints"
    blocked.write_text("")
    settings.LCR_AUDIT_CHECKPOINT_FILE = str(blocked / "audit-checkpoints.jsonl")
    looked = a_look(PatientFactory(), UserFactory())

    with pytest.raises(CheckpointNotWrittenOut, match="it is written again at the next signing"):
        sign_checkpoints()
    assert Checkpoint.objects.count() == 1

    blocked.unlink()
    assert sign_checkpoints() == []  # nothing new to sign, the old one written out
    assert [(c["chain"], c["sequence"]) for c in checkpoint_lines()] == [(looked.chain, 1)]
    assert "are intact" in call_and_read("verify_audit")
    sign_checkpoints()
    assert len(checkpoint_lines()) == 1  # written once, not at every run


def test_a_forged_row_in_the_table_is_not_copied_out_to_the_file(trail):
    _, owner = trail
    owner.execute("UPDATE audit_checkpoint SET signature = %s", ["0" * 128])
    Path(settings.LCR_AUDIT_CHECKPOINT_FILE).write_text("")

    sign_checkpoints()

    assert checkpoint_lines() == []
    assert "is not signed by any of the known keys" in broken()


def test_a_sink_that_cannot_be_imported_is_a_check_error(settings):
    settings.LCR_AUDIT_CHECKPOINT_SINK = "tests.nowhere.sink"

    assert "audit.E002" in {message.id for message in run_checks()}


@pytest.mark.parametrize(
    "key_file, why",
    [
        ("missing.pem", "cannot be read: No such file or directory."),
        (".", "cannot be read: Is a directory."),
        ("garbage.pem", "is not an unencrypted Ed25519 private key in PEM"),
    ],
)
def test_a_key_file_that_cannot_be_used_is_a_clear_error_not_a_traceback(
    settings, tmp_path, key_file, why
):
    (tmp_path / "garbage.pem").write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n")
    settings.LCR_AUDIT_SIGNING_KEY_FILE = str(tmp_path / key_file)
    a_look(PatientFactory(), UserFactory())

    [error] = [message for message in run_checks() if message.id == "audit.E001"]
    assert why in error.msg
    for command in ("sign_audit_checkpoint", "verify_audit", "audit_public_key"):
        with pytest.raises(CommandError, match=why) as raised:
            call_command(command)
        assert raised.value.returncode == 2
    assert not Checkpoint.objects.exists()


def test_former_public_keys_that_are_not_keys_are_a_check_error(settings):
    settings.LCR_AUDIT_VERIFY_KEYS = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"

    [error] = [message for message in run_checks() if message.id == "audit.E001"]
    assert "is not an Ed25519 public key" in error.msg


def test_the_checkouts_own_key_is_made_once_readable_by_its_owner_only(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    assert signing_key() is None

    made = signing_key(create=True)

    assert (tmp_path / "audit-signing-key.pem").stat().st_mode & 0o777 == 0o600
    assert signing_key().public_key() == made.public_key()
    assert "audit.W002" in {m.id for m in run_checks(include_deployment_checks=True)}
    settings.LCR_AUDIT_SIGNING_KEY = ed25519_key()[0]
    assert "audit.W002" not in {m.id for m in run_checks(include_deployment_checks=True)}


def test_an_hmac_checkpoint_from_before_ed25519_still_verifies_and_the_head_is_signed_again(
    capsys,
):
    patient, user = PatientFactory(), UserFactory()
    looked = [a_look(patient, user) for _ in range(2)]
    signed_at = timezone.now()
    message = f"{looked[0].chain}|1|{looked[0].hash}|{signed_at.isoformat()}"
    Checkpoint.objects.create(
        chain=looked[0].chain,
        sequence=1,
        hash=looked[0].hash,
        signed_at=signed_at,
        signature=salted_hmac(
            "lcr.audit.checkpoint", message, secret=settings.SECRET_KEY, algorithm="sha256"
        ).hexdigest(),
    )

    [new] = sign_checkpoints()
    call_command("verify_audit")

    assert (new.sequence, len(new.key_id)) == (2, 64)
    assert "2 signed checkpoints and 1 in the checkpoint file" in capsys.readouterr().out


def call_and_read(*command: str) -> str:
    """What a command writes on standard output (its standard error set aside)."""
    out = StringIO()
    call_command(*command, stdout=out, stderr=StringIO())
    return out.getvalue()
