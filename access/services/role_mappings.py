"""Role mappings from a CSV file: the national RBAC codes (or a council's app roles) that this
deployment maps to its teams and roles, imported idempotently (a row already there is left as
it is, a changed one is updated, nothing is deleted) and all or nothing.
"""

import csv
import io
from dataclasses import dataclass

from auditlog.context import set_actor
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction

from access.models import IdentityProvider, Role, RoleMapping, Team

COLUMNS = ("provider", "organisation", "rbac_code", "role_name", "team_ods_code", "role")


class RoleMappingImportError(Exception):
    """The file cannot be imported: `problems` lists each row's, by line number."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int
    unchanged: int


def import_role_mappings(*, text: str, actor: AbstractBaseUser) -> ImportResult:
    """Import the rows of a CSV with a header of COLUMNS. `team_ods_code` names a team by its
    ODS code (a team's name after a slash when one organisation has several teams:
    "RXT/Thameside A&E"). Every row is checked before any is written."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = [column for column in COLUMNS if column not in (reader.fieldnames or [])]
    if missing:
        raise RoleMappingImportError([f"The header has no column {', '.join(missing)}."])
    providers = {provider.slug: provider for provider in IdentityProvider.objects.all()}
    teams = list(Team.objects.all())
    problems, rows = [], []
    for line, row in enumerate(reader, start=2):
        values = {key: (row.get(key) or "").strip() for key in COLUMNS}
        provider = providers.get(values["provider"])
        team = _team(teams, values["team_ods_code"])
        if provider is None:
            problems.append(f"line {line}: no identity provider {values['provider']!r}")
        if team is None:
            problems.append(f"line {line}: no single team {values['team_ods_code']!r}")
        if values["role"] not in Role.values:
            problems.append(f"line {line}: no role {values['role']!r} ({', '.join(Role.values)})")
        if not values["organisation"] or not values["rbac_code"]:
            problems.append(f"line {line}: organisation and rbac_code are both needed")
        rows.append((provider, team, values))
    if problems:
        raise RoleMappingImportError(problems)
    return _write(rows, actor)


def _team(teams: list[Team], named: str) -> Team | None:
    ods_code, _, name = named.partition("/")
    found = [t for t in teams if t.ods_code == ods_code and (not name or t.name == name)]
    return found[0] if len(found) == 1 else None


@transaction.atomic
def _write(rows: list, actor: AbstractBaseUser) -> ImportResult:
    created = updated = unchanged = 0
    with set_actor(actor):
        for provider, team, values in rows:
            mapping, made = RoleMapping.objects.get_or_create(
                provider=provider,
                organisation=values["organisation"],
                rbac_code=values["rbac_code"],
                defaults={"team": team, "role": values["role"], "role_name": values["role_name"]},
            )
            if made:
                created += 1
                continue
            wanted = {"team": team, "role": values["role"], "role_name": values["role_name"]}
            if all(getattr(mapping, key) == value for key, value in wanted.items()):
                unchanged += 1
                continue
            for key, value in wanted.items():
                setattr(mapping, key, value)
            mapping.save()
            updated += 1
    return ImportResult(created=created, updated=updated, unchanged=unchanged)
