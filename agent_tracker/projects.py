"""Which stored projects are one project: clones that share a root commit.

A project's identity is pinned per repository (`gitinfo`), so two clones of one repository
can carry different identities: a path on one machine, a URL on another, or whatever `origin`
each had when first seen. Their commits carry the repository's root commit, and each project
record counts its commits per root commit (`roots`). The report joins projects that share a
root commit (directly or through a chain of others) and shows them under one identity.
Unrelated repositories have different root commits and are never joined; projects whose
commits carry no root (recorded before roots were, or shallow clones) stay as they are.

The identity a joined project is shown under is chosen so that it does not depend on which
machine's data came first: a remote (`github.com/me/app`, the same on every machine) before a
local path, then the smallest in text order.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

Record = dict[str, Any]


def join_clones(projects: dict[str, Record]) -> tuple[dict[str, str], dict[str, Record]]:
    """(alias, joined) for the project records keyed by identity.

    `alias` maps every identity that is shown under another one to that one (identities
    shown as themselves are absent); `joined` holds the records keyed by shown identity,
    those of joined projects combined (commits, language mix, roots, first and last day,
    and `joined`: every identity of the group).
    """
    parent: dict[str, str] = {}

    def find(identity: str) -> str:
        while parent.get(identity, identity) != identity:
            identity = parent[identity]
        return identity

    owner: dict[str, str] = {}
    for identity in sorted(projects):
        for root in projects[identity].get("roots") or {}:
            first = owner.setdefault(root, identity)
            a, b = find(first), find(identity)
            if a != b:
                parent[max(a, b)] = min(a, b)
    if not parent:
        return {}, projects
    groups: dict[str, list[str]] = {}
    for identity in projects:
        groups.setdefault(find(identity), []).append(identity)
    alias: dict[str, str] = {}
    joined: dict[str, Record] = {}
    for members in groups.values():
        shown = min(members, key=lambda name: (name.startswith("/"), name))
        if len(members) == 1:
            joined[shown] = projects[shown]
            continue
        joined[shown] = _combined(shown, [projects[m] for m in sorted(members)])
        alias.update({member: shown for member in members if member != shown})
    return alias, joined


def _combined(shown: str, records: list[Record]) -> Record:
    record: Record = {}
    for part in records:
        if part["project"] == shown:
            record = dict(part)
    record["commits"] = sum(int(part.get("commits") or 0) for part in records)
    for field in ("exts", "roots"):
        merged: dict[str, int] = {}
        for part in records:
            for key, count in (part.get(field) or {}).items():
                merged[key] = merged.get(key, 0) + count
        record[field] = merged
    days = [part[key] for part in records for key in ("first_day", "last_day") if part.get(key)]
    record["first_day"] = min(days) if days else None
    record["last_day"] = max(days) if days else None
    record["joined"] = sorted(part["project"] for part in records)
    return record


def shown_as(
    alias: dict[str, str], items: Iterable[tuple[str, Record]]
) -> Iterator[tuple[str, Record]]:
    """The (key, record) pairs of `items`, each record's project shown as `alias` says
    (a copy of the record where it changes; the stored records are never touched)."""
    if not alias:
        return iter(items)  # nothing joined: no cost per record
    return (
        (key, record if record["project"] not in alias else _renamed(record, alias))
        for key, record in items
    )


def _renamed(record: Record, alias: dict[str, str]) -> Record:
    return dict(record, project=alias[record["project"]])
