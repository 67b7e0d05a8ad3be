"""Read queries of access control, bounded whatever the number of patients or relationships."""

import datetime
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db import connection, connections
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from access.models import (
    IN_FORCE_SQL,
    CareRelationship,
    Membership,
    Objection,
    PatientGroupObjectPermission,
    PatientUserObjectPermission,
    Role,
    RolePolicy,
    StaffProfile,
)
from access.policy import (
    ACTIVE_RELATIONSHIP_SQL,
    Actor,
    may_break_glass,
    sees_records,
    view_record_permission_id,
)
from records.matching import given_name_similarity, name_similarity, normalise_postcode
from records.models import Patient
from records.replica import replica_for_reads, replica_reader

MOST_FOUND = 20
NAMES_ALIKE = 0.85  # Jaro-Winkler: "Smyth" finds "Smith", "Okafor" finds "Okafur"


def my_patients(actor: Actor) -> QuerySet[Patient]:
    """Patients the actor's team (or the actor) cares for today, with the guardian grant in place
    and no objection to sharing standing (an objection closes every relationship: see decide).

    One query, driven by the team's relationships (indexed by team), their patients kept if
    guardian's grant is there (the team's grants read once by the (holder, permission) index and
    hashed, rather than looked up one patient at a time); bounded by the team's size, never by
    the register's.
    """
    if not sees_records(actor):
        return Patient.objects.none()
    return Patient.objects.filter(
        pk__in=_granted_relationships(actor).values("patient_id")
    ).order_by(*BY_NAME)


BY_NAME = ("family_name", "given_names", "pk")


@replica_reader
def my_patients_page(actor: Actor, number: str | int | None, per_page: int = 50) -> Page:
    """One page of my_patients, by name, as the home page shows it (see MyPatientsList); read
    from the replica when there is one (the page's count and rows are read here)."""
    return Paginator(MyPatientsList(actor), per_page).get_page(number)


class MyPatientsList:
    """my_patients for a paginator, in two statements that stay quick at a team of thousands,
    both read from the team's relationships not ended in its patients' name order
    (relationship_team_by_name, which carries the patient's names and the dates):

    - the count, from that index alone;
    - a page, the first rows of that index that pass the rules (its 50, not the team's 5,000
      patients' names looked up and sorted), then only its own patients' rows.

    Written out because Django took longer to build the querysets than the database took to run
    them; tests/test_home.py holds the two to my_patients' answers.
    """

    ordered = True  # Paginator warns about unordered lists

    def __init__(self, actor: Actor) -> None:
        self.actor = actor

    def count(self) -> int:
        if not sees_records(self.actor):
            return 0
        with connections[replica_for_reads()].cursor() as cursor:
            cursor.execute(_MY_PATIENTS_COUNT, _my_patients_values(self.actor))
            return cursor.fetchone()[0]

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, index: slice) -> list[Patient]:
        if not sees_records(self.actor):
            return []
        values = {
            **_my_patients_values(self.actor),
            "offset": index.start or 0,
            "limit": index.stop - (index.start or 0),
        }
        return list(Patient.objects.raw(_MY_PATIENTS_PAGE, values))


# _granted_relationships' rule, for a relationship r of the actor or their team: in force
# today, its patient with the user's or the team group's view_record grant (each read once and
# hashed), and no objection standing.
_MINE = f"""{IN_FORCE_SQL}
    AND (r.patient_id IN (SELECT g.content_object_id FROM access_patientuserobjectpermission g
                          WHERE g.user_id = %(user)s AND g.permission_id = %(permission)s)
         OR r.patient_id IN (SELECT g.content_object_id FROM access_patientgroupobjectpermission g
                             WHERE g.group_id = %(group)s AND g.permission_id = %(permission)s))
    AND NOT EXISTS (SELECT 1 FROM access_objection o
                    WHERE o.patient_id = r.patient_id AND o.withdrawn_at IS NULL)"""  # noqa: S608 (constant text; values are parameters)
# The team's relationships and the actor's own, each arm in name order (the team's from its
# index), merged: a page reads only as far as its last row.
_MY_RELATIONSHIPS = f"""
    SELECT r.patient_family_name, r.patient_given_names, r.patient_id
    FROM access_carerelationship r WHERE r.team_id = %(team)s AND {_MINE}
    UNION ALL
    SELECT r.patient_family_name, r.patient_given_names, r.patient_id
    FROM access_carerelationship r WHERE r.user_id = %(user)s AND {_MINE}"""  # noqa: S608 (constant text; values are parameters)
_MY_PATIENTS_PAGE = f"""
SELECT p.* FROM (
  SELECT DISTINCT mine.patient_family_name, mine.patient_given_names, mine.patient_id
  FROM ({_MY_RELATIONSHIPS}) mine
  ORDER BY mine.patient_family_name, mine.patient_given_names, mine.patient_id
  LIMIT %(limit)s OFFSET %(offset)s
) chosen JOIN records_patient p ON p.id = chosen.patient_id
ORDER BY chosen.patient_family_name, chosen.patient_given_names, chosen.patient_id
"""  # noqa: S608 (constant text; values are parameters)
_MY_PATIENTS_COUNT = f"""
SELECT count(DISTINCT mine.patient_id) FROM ({_MY_RELATIONSHIPS}) mine
"""  # noqa: S608 (constant text; values are parameters)


def _my_patients_values(actor: Actor) -> dict:
    return {
        "user": actor.user.pk,
        "team": actor.team.pk if actor.team is not None else None,
        "group": actor.team.group_id if actor.team is not None else None,
        "permission": view_record_permission_id(),
        "today": connection.ops.adapt_datefield_value(timezone.localdate()),
    }


def _granted_relationships(actor: Actor) -> QuerySet[CareRelationship]:
    """The actor's and their team's relationships in force today whose patient has the
    holder's guardian grant and has not objected to sharing."""
    today = timezone.localdate()
    permission = view_record_permission_id()
    holders = Q(user_id=actor.user.pk)
    granted = Q(
        patient_id__in=PatientUserObjectPermission.objects.filter(
            user_id=actor.user.pk, permission_id=permission
        ).values("content_object_id")
    )
    if actor.team is not None:
        holders |= Q(team_id=actor.team.pk)
        granted |= Q(
            patient_id__in=PatientGroupObjectPermission.objects.filter(
                group_id=actor.team.group_id, permission_id=permission
            ).values("content_object_id")
        )
    return (
        CareRelationship.objects.in_force(today)
        .filter(holders)
        .filter(granted)
        .exclude(
            Exists(
                Objection.objects.filter(patient=OuterRef("patient_id"), withdrawn_at__isnull=True)
            )
        )
    )


@dataclass(frozen=True)
class PatientQuery:
    """What a professional typed to find someone: an NHS number, or a name and date of birth."""

    nhs_number: str = ""
    family_name: str = ""
    given_name: str = ""
    birth_date: datetime.date | None = None
    postcode: str = ""

    def __str__(self) -> str:
        if self.nhs_number:
            return self.nhs_number
        parts = [self.given_name, self.family_name, f"born {self.birth_date}", self.postcode]
        return " ".join(part for part in parts if part)


@replica_reader
def find_my_patients(actor: Actor, query: PatientQuery) -> list[Patient]:
    """Patients matching the query among those the actor may see now: through a care
    relationship, or their own emergency access for that team that has not ended. Best match
    first. Read from the replica when there is one: opening a record found decides again.

    A name search needs the date of birth: it narrows the register by an indexed equality before
    names are compared, so it costs the same whatever the register's size, and it tells two
    people of the same name apart.
    """
    if not sees_records(actor):
        return []
    if query.nhs_number:
        narrow, values = "p.nhs_number = %(nhs_number)s", {"nhs_number": query.nhs_number}
    elif query.birth_date:
        ops = connection.ops
        narrow = "p.birth_date = %(birth_date)s"
        values = {"birth_date": ops.adapt_datefield_value(query.birth_date)}
        if query.postcode:
            narrow += " AND p.postcode = %(postcode)s"
            values["postcode"] = normalise_postcode(query.postcode)
    else:
        return []
    cared_for = _CARED_FOR_ONE if query.nhs_number else _CARED_FOR_MANY
    found = _find_mine(actor, narrow, cared_for, values)
    if not query.nhs_number:
        found = best_matches(query, found)
    return found[:MOST_FOUND]


def best_matches(query: PatientQuery, patients: list[Patient]) -> list[Patient]:
    """Of these patients (found by date of birth), those whose names are alike the query's,
    best first: the one rule of a name search, for the clinical search and the privacy
    officers' finder alike."""
    found = [p for p in patients if _alike(query, p)]
    found.sort(key=lambda p: -_likeness(query, p))
    return found


# find_my_patients in one statement. Written out because Django takes longer to build the same
# query from my_patients' querysets (about 3 ms, twice) than the database takes to run it. The
# rules are my_patients' (an active relationship of the actor or their team, with the guardian
# grant in place) or the actor's own emergency access for the team they act for, not ended, while
# their role may use emergency access (as access.policy.decide opens it); tests/test_search.py
# holds the two to the same answers. An objection closes the relationships, not the emergency
# access (tests/test_objections.py).
_FIND_MINE = """
SELECT p.* FROM records_patient p
WHERE {narrow} AND p.merged_into_id IS NULL AND (
  ({cared_for}
   AND NOT EXISTS (SELECT 1 FROM access_objection o
                   WHERE o.patient_id = p.id AND o.withdrawn_at IS NULL)
   AND (EXISTS (SELECT 1 FROM access_patientuserobjectpermission g
                WHERE g.content_object_id = p.id AND g.user_id = %(user)s
                  AND g.permission_id = %(permission)s)
        OR EXISTS (SELECT 1 FROM access_patientgroupobjectpermission g
                   WHERE g.content_object_id = p.id AND g.group_id = %(group)s
                     AND g.permission_id = %(permission)s)))
  OR (%(may_break_glass)s AND EXISTS (SELECT 1 FROM access_breakglassaccess b
             WHERE b.patient_id = p.id AND b.user_id = %(user)s AND b.team_id = %(team)s
               AND b.expires_at > %(now)s)))
LIMIT 500
"""
# Whether the actor or their team cares for p. An NHS number finds one patient, whose own
# relationships are looked up; a date of birth finds hundreds (about 800 at a million), for
# whom the team's relationships are read once and hashed (5 ms, against 10 one at a time).
_CARED_FOR_ONE = f"""EXISTS (SELECT 1 FROM access_carerelationship r
    WHERE r.patient_id = p.id AND {ACTIVE_RELATIONSHIP_SQL})"""  # noqa: S608 (constant text; values are parameters)
_CARED_FOR_MANY = f"""p.id IN (SELECT r.patient_id FROM access_carerelationship r
    WHERE {ACTIVE_RELATIONSHIP_SQL})"""  # noqa: S608 (constant text; values are parameters)


def still_mine(actor: Actor, patient_ids: list[int]) -> list[Patient]:
    """Of these few patients, those the actor may still see now, as find_my_patients decides
    (each looked up by id, so a big team's thousands of relationships are not read)."""
    if not patient_ids or not sees_records(actor):
        return []
    values = {f"id{n}": pk for n, pk in enumerate(patient_ids)}
    among = "p.id IN ({})".format(", ".join(f"%({name})s" for name in values))
    return _find_mine(actor, among, _CARED_FOR_ONE, values)


def _find_mine(actor: Actor, narrow: str, cared_for: str, values: dict) -> list[Patient]:
    """_FIND_MINE narrowed by `narrow` (its parameters in `values`), for this actor now."""
    ops = connection.ops
    values = {
        **values,
        "user": actor.user.pk,
        "team": actor.team.pk if actor.team is not None else None,
        "group": actor.team.group_id if actor.team is not None else None,
        "permission": view_record_permission_id(),
        "today": ops.adapt_datefield_value(timezone.localdate()),
        "now": ops.adapt_datetimefield_value(timezone.now()),
        # Emergency access opens a record only while the role acted in may use it (decide's rule).
        "may_break_glass": may_break_glass(actor),
    }
    sql = _FIND_MINE.format(narrow=narrow, cared_for=cared_for)
    return list(Patient.objects.raw(sql, values))


def _likeness(query: PatientQuery, patient: Patient) -> float:
    family = name_similarity(query.family_name, patient.family_name)
    given = given_name_similarity(query.given_name, patient.given_names) if query.given_name else 1
    return family + given


def _alike(query: PatientQuery, patient: Patient) -> bool:
    if name_similarity(query.family_name, patient.family_name) < NAMES_ALIKE:
        return False
    return (
        not query.given_name
        or given_name_similarity(query.given_name, patient.given_names) >= NAMES_ALIKE
    )


@dataclass(frozen=True)
class MembershipChange:
    """One change to who is in which team, from the change history (django-auditlog)."""

    at: datetime.datetime
    actor: str
    action: str  # "added", "role changed", "ended"
    membership: str  # as it read when changed: "user: role, team"
    role_before: str
    role_after: str
    reason: str


def membership_changes(limit: int = 100) -> list[MembershipChange]:
    """The latest changes to memberships of teams, newest first: who changed whose membership,
    how and why. One query (the entries with their actors)."""
    from auditlog.models import LogEntry

    roles = dict(Role.choices)
    actions = {
        LogEntry.Action.CREATE: "added",
        LogEntry.Action.UPDATE: "role changed",
        LogEntry.Action.DELETE: "ended",
    }
    entries = (
        LogEntry.objects.get_for_model(Membership)
        .select_related("actor")
        .order_by("-timestamp", "-pk")[:limit]
    )
    changes = []
    for entry in entries:
        before, after = (entry.changes_dict.get("role") or ["", ""])[:2]
        changes.append(
            MembershipChange(
                at=entry.timestamp,
                actor=entry.actor.get_username() if entry.actor else "(unknown)",
                action=actions.get(entry.action, "changed"),
                membership=entry.object_repr,
                role_before=roles.get(before, "") if before not in (None, "None") else "",
                role_after=roles.get(after, "") if after not in (None, "None") else "",
                reason=(entry.additional_data or {}).get("reason", ""),
            )
        )
    return changes


@dataclass(frozen=True)
class AdministratorWhoSeesRecords:
    """Someone who administers (an administrator's role, or a staff or superuser flag) and also
    holds a role that opens records: worth a privacy officer's look."""

    username: str
    full_name: str
    administers: str  # how: "administrator", "staff", "superuser", joined
    clinical: list[str]  # their clinical memberships, as "role, team"


def administrators_who_see_records(limit: int = 50) -> list[AdministratorWhoSeesRecords]:
    """Active users who administer and hold a clinical membership (a role whose policy shows
    record headings). Three queries: the role policies, the users, their memberships."""
    from django.contrib.auth import get_user_model
    from django.db.models import Prefetch

    clinical_roles = [p.role for p in RolePolicy.objects.all() if p.categories]
    users = (
        get_user_model()
        .objects.filter(
            Q(is_staff=True) | Q(is_superuser=True) | Q(memberships__role=Role.ADMINISTRATOR),
            is_active=True,
        )
        .filter(pk__in=Membership.objects.filter(role__in=clinical_roles).values("user_id"))
        .distinct()
        .order_by("username")
        .prefetch_related(
            Prefetch("memberships", queryset=Membership.objects.select_related("team"))
        )[:limit]
    )
    found = []
    for user in users:
        memberships = list(user.memberships.all())
        how = [
            *(["superuser"] if user.is_superuser else []),
            *(["staff"] if user.is_staff else []),
            *(["administrator"] if any(m.role == Role.ADMINISTRATOR for m in memberships) else []),
        ]
        found.append(
            AdministratorWhoSeesRecords(
                username=user.get_username(),
                full_name=user.get_full_name(),
                administers=", ".join(how),
                clinical=[
                    f"{m.get_role_display()}, {m.team.name}"
                    for m in memberships
                    if m.role in clinical_roles
                ],
            )
        )
    return found


def shown_by_role_only(user_ids: Iterable[int | None]) -> set[int]:
    """Of these professionals, those whom patients see by job role only, not by name: their own
    choice (StaffProfile), honoured only where the deployment allows it (one query, or none)."""
    wanted = {user_id for user_id in user_ids if user_id is not None}
    if not settings.LCR_STAFF_MAY_BE_SHOWN_BY_ROLE or not wanted:
        return set()
    return set(
        StaffProfile.objects.filter(
            user_id__in=wanted, shown_to_patients_by_role_only=True
        ).values_list("user_id", flat=True)
    )


# What an administrator's home lists of the relationships that end soon.
ENDING_SOON_DAYS = 14
ENDING_SOON_LISTED = 10


@dataclass(frozen=True)
class RelationshipsEndingSoon:
    count: int
    soonest: list[CareRelationship]  # with their team or person; nothing about the patient


def relationships_ending_soon(
    *, days: int = ENDING_SOON_DAYS, listed: int = ENDING_SOON_LISTED
) -> RelationshipsEndingSoon:
    """Relationships not yet ended whose last day is today or within the next `days` days:
    how many, and the `listed` soonest. Two queries on the ends_on index, whatever the size."""
    today = timezone.localdate()
    ending = CareRelationship.objects.filter(
        ended_at__isnull=True,
        ends_on__gte=today,
        ends_on__lte=today + datetime.timedelta(days=days),
    )
    soonest = ending.select_related("team", "user").order_by("ends_on", "pk")[:listed]
    return RelationshipsEndingSoon(count=ending.count(), soonest=list(soonest))
