"""`WriteBatch`: the records of one transaction, read once, changed in memory, written once.

Keys and values pass through `records.Codec`, which alone knows how the transaction's
database stores them (text keys and JSON values up to format 2, packed facts in format 3);
everything above sees text keys and decoded values. A damaged value (not JSON, or not of
its key's shape) reads as absent and is noted in `WriteBatch.damaged`, so that the write
transaction can set it aside (see `store.LMDBDatabase.batch`). Any LMDB error while
reading (a damaged page) is one clear `DatabaseDamagedError`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import lmdb

from agent_tracker import keys, records
from agent_tracker.errors import DatabaseDamagedError, TrackerError
from agent_tracker.records import DAMAGED, Codec, dump

__all__ = ["Codec", "WriteBatch", "dump", "iter_txn", "txn_get", "unreadable"]


class WriteBatch:
    """Reads and writes within one LMDB write transaction; writes land on `commit`.

    `get` returns decoded values (cached, including this batch's own changes); `set` only
    records the new value, so repeated updates of one key cost one put in the end.
    """

    def __init__(self, txn: lmdb.Transaction | None, codec: Codec | None = None) -> None:
        # txn None: nothing stored yet (the report's overlay over a missing database).
        self.txn = txn
        self.codec = Codec(txn) if codec is None else codec
        self._cache: dict[str, Any] = {}
        self._dirty: set[str] = set()
        #: Damaged records met (key -> raw value): read as absent, set aside on commit.
        self.damaged: dict[str, bytes] = {}

    def get(self, key: str) -> Any:
        """The value under `key`: None when absent, and when damaged (noted in `damaged`)."""
        if key in self._cache:
            return self._cache[key]
        raw_key = self.codec.key(key)
        raw = None if self.txn is None else txn_get(self.txn, raw_key)
        if raw is None:
            self._cache[key] = None
            return None
        value = self.codec.decode(key, raw_key, raw)
        if value is DAMAGED:
            self.damaged[key] = raw
            value = None
        self._cache[key] = value
        return value

    def has(self, key: str) -> bool:
        return self.get(key) is not None

    def set(self, key: str, value: Any) -> None:
        self._cache[key] = value
        self._dirty.add(key)

    def delete(self, key: str) -> None:
        """Remove `key` when the batch is written (a `None` value in `changes`)."""
        self.set(key, None)

    def put_now(self, key: str, value: Any) -> None:
        """Store `value` under `key` at once (for merges: `rebuild` must see it)."""
        if self.txn is None:
            raise TrackerError("put_now needs a write transaction")
        raw_key = self.codec.key(key)
        self.txn.put(raw_key, self.codec.encode(raw_key, value))
        self._cache[key] = value

    def delete_now(self, key: str) -> None:
        """Remove `key` at once (for merges: `rebuild` must not see it)."""
        if self.txn is None:
            raise TrackerError("delete_now needs a write transaction")
        self.txn.delete(self.codec.key(key))
        self._cache[key] = None
        self._dirty.discard(key)

    def put_absent(self, key: str, raw: bytes) -> bool:
        """Store `raw` under `key` at once, unless the key exists; True when stored.

        For merging facts (migrate, import): written straight into the transaction, so that
        `rebuild` in the same transaction sees them; never overwrites. `raw` is the fact's
        JSON (stored packed where the database packs facts).
        """
        if self.txn is None:
            raise TrackerError("put_absent needs a write transaction")
        if self.get(key) is not None:
            return False
        # Absent, or damaged (then set aside when the batch ends, and replaced now).
        self._cache.pop(key, None)
        raw_key = self.codec.key(key)
        if self.codec.packed and raw_key[:1] < b" ":
            value = records.decode(key, raw, shape=False)
            if value is not DAMAGED:
                raw = self.codec.encode(raw_key, value)
        return bool(self.txn.put(raw_key, raw))

    def scan(self, prefix: str) -> Iterator[tuple[str, Any]]:
        """Stored (key, value) pairs under `prefix`, as committed before this batch."""
        if self.txn is None:
            return iter(())
        return iter_txn(self.codec, prefix, self.damaged)

    def scan_range(self, low: str, high: str) -> Iterator[tuple[str, Any]]:
        """Stored (key, value) pairs with low <= key <= high, in key order (for each
        physical form: packed facts, then text keys)."""
        if self.txn is None:
            return
        yield from iter_txn(self.codec, low, self.damaged, high)

    def changes(self) -> dict[str, Any]:
        return {key: self._cache[key] for key in self._dirty}


def iter_txn(
    codec: Codec, low: str, damaged: dict[str, bytes], high: str | None = None
) -> Iterator[tuple[str, Any]]:
    """(key, value) of the keys starting with `low` (with `high`: from `low` to `high`),
    skipping damaged values, which are noted in `damaged`. In key order within each physical
    form of key (see `keys.physical`)."""
    txn = codec.txn
    if txn is None:
        return
    # Commits and grades share one packed range: a scan of one kind skips the other's keys
    # by their last byte, before making text keys of them.
    only = {"commit:": b"\x00", "communication:": b"au"}.get(low) if high is None else None
    try:
        cursor = txn.cursor()
        for start, stop in codec.ranges(low, high):
            if not cursor.set_range(start):
                continue
            for raw_key, raw in cursor:
                key_bytes = bytes(raw_key)
                if stop is not None and key_bytes >= stop:
                    break
                if only is not None and key_bytes[:1] == keys.FACT and key_bytes[-1] not in only:
                    continue
                key = codec.logical(key_bytes)
                if key is None:
                    continue
                if key < low or (key > high if high is not None else not key.startswith(low)):
                    continue
                value = codec.decode(key, key_bytes, bytes(raw))
                if value is DAMAGED:
                    damaged[key] = bytes(raw)
                    continue
                yield key, value
    except lmdb.Error as exc:
        raise unreadable(exc) from None


def txn_get(txn: lmdb.Transaction, key: bytes) -> bytes | None:
    try:
        raw = txn.get(key)
    except lmdb.Error as exc:
        raise unreadable(exc) from None
    return None if raw is None else bytes(raw)


def unreadable(exc: lmdb.Error) -> TrackerError:
    return DatabaseDamagedError(
        f"the database could not be read ({exc}); run `agent-tracker export` to save what can "
        "be read, and restore the database folder from a backup"
    )
