"""What of a local fact goes to the team server, and how projects are named there.

An allow-list per kind of fact: a field that is not listed never leaves the machine. Shared:
the setup (harness, agent, model), grades, usage counts, tokens and cost, commit hashes
(the commit, its root, the commit it reverts, its amendment), times, the size of a commit
and its file-extension mix, the instructions fingerprint (a hash), and the project as an
identity. Never shared: commit subjects, grade notes, harness session ids (they can embed
paths), the event ids of the local journal and local paths.

The project field becomes an opaque, stable pseudonym (`events.project_id` of the local
identity: the same remote gives the same pseudonym on every machine, so teammates' clones
pool) unless `share_project_names` is true and the identity is not a local path (a
repository without a remote is known by its folder, which is never sent). Fact keys are
the local keys: their project part is already that hash, so they stay unique and stable.

Standard library only, and never imported on the capture or flush path.
"""

from __future__ import annotations

import hashlib
from typing import Any

from agent_tracker import events
from agent_tracker.facts import USAGE_COUNTS

_SETUP = ("harness", "agent", "model", "project")
#: The fields of each kind of fact that are shared (anything else stays local).
ALLOWED: dict[str, tuple[str, ...]] = {
    "commit": (
        *_SETUP,
        "hash",
        "ts",
        "author_time",
        "source",
        "files",
        "insertions",
        "deletions",
        "exts",
        "root",
        "reverts",
        "instructions",
        "tokens",
        "cost_micros",
    ),
    "grade": (*_SETUP, "hash", "ts", "by", "grade", "id"),
    "usage": (*_SETUP, "day", "instructions", *USAGE_COUNTS),
    "replaced": (*_SETUP, "hash", "by_hash", "ts"),
}
#: Prefix of a pseudonymous project identity as the team server shows it.
PSEUDONYM_PREFIX = "project-"


def is_local_path(identity: str) -> bool:
    """Whether a project identity is a folder on this machine (a repository without a
    remote), rather than a remote such as `github.com/me/app`."""
    return identity.startswith(("/", "~", "\\")) or (
        len(identity) > 2 and identity[1] == ":" and identity[2] in "/\\"
    )


def project_as_shared(identity: str, share_names: bool) -> str:
    if share_names and not is_local_path(identity):
        return identity
    return PSEUDONYM_PREFIX + events.project_id(identity)


def shared_form(kind: str, fact: dict[str, Any], share_names: bool) -> dict[str, Any]:
    """The fact as the team server receives it (see the module docstring)."""
    allowed = ALLOWED[kind]
    body = {key: fact[key] for key in allowed if key in fact and fact[key] is not None}
    if kind == "grade":
        # A grade's id only breaks ties between two grades of the same second (facts.newer):
        # a hash of it does that as well and says nothing about the local journal.
        ident = body.pop("id", None)
        if ident is not None:
            body["id"] = hashlib.blake2b(str(ident).encode(), digest_size=8).hexdigest()
    body["project"] = project_as_shared(str(fact["project"]), share_names)
    return body
