"""LMDB key layout (see `store` for what each kind of key holds)."""

from __future__ import annotations


def agent_key(sid: str) -> str:
    return f"agent:{sid}"


def project_key(pid: str) -> str:
    return f"project:{pid}"


def commit_key(pid: str, commit_hash: str) -> str:
    return f"commit:{pid}:{commit_hash}"


def communication_key(pid: str, commit_hash: str, party: str) -> str:
    return f"communication:{pid}:{commit_hash}:{party}"


def usage_key(dbid: str, pid: str, sid: str, day: str) -> str:
    return f"usage:{dbid}:{pid}:{sid}:{day}"


def segment_key(segment_id: str) -> str:
    return f"meta:segment:{segment_id}"


def day_key(day: str, sid: str, pid: str) -> str:
    """Per (day, setup, project) aggregates; day first, so a date range is one key range."""
    return f"day:{day}:{sid}:{pid}"


def replaced_key(pid: str, commit_hash: str) -> str:
    """Marks a commit replaced by its amendment, so that no merge brings it back."""
    return f"replaced:{pid}:{commit_hash}"
