"""Group calls: many concurrent callers, one round trip per group.

A worker handling many jobs at once (nameko greenthreads) would otherwise pay one
database transaction per job. ``GroupCall`` hands every item that arrives while the
previous group's call is running to the next call, together: under light load each
call carries one item and waits for nothing; under heavy load groups grow by themselves
(no timer, no added latency). Each caller gets its own item's result or exception: an
exception ``many`` raises goes to every caller of the group, one it returns in an item's
place (that item alone failed) to that item's caller.

Works with real threads and with eventlet's patched ones.
"""

from __future__ import annotations

import threading
from typing import Callable, Generic, Sequence, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class _Slot:
    __slots__ = ("done", "result", "error")

    def __init__(self):
        self.done = threading.Event()
        self.result = None
        self.error: BaseException | None = None


class GroupCall(Generic[Item, Result]):
    """``call(item)`` runs ``many(items)`` for a group of items; ``many`` returns one result
    per item, in order, or in an item's place the exception to raise in its caller."""

    def __init__(self, many: Callable[[Sequence[Item]], Sequence[Result]], name: str, max_group: int = 500):
        self._many = many
        self._max_group = max_group
        self._pending: list[tuple[Item, _Slot]] = []
        self._arrived = threading.Condition()
        self._runner = threading.Thread(target=self._run, name=name, daemon=True)
        self._runner.start()

    def __call__(self, item: Item) -> Result:
        slot = _Slot()
        with self._arrived:
            self._pending.append((item, slot))
            self._arrived.notify()
        slot.done.wait()
        if slot.error is not None:
            raise slot.error
        if isinstance(slot.result, BaseException):
            raise slot.result
        return slot.result

    def _run(self) -> None:
        while True:
            with self._arrived:
                while not self._pending:
                    self._arrived.wait()
                group, self._pending = self._pending[: self._max_group], self._pending[self._max_group:]
            try:
                results = self._many([item for item, _ in group])
                if len(results) != len(group):
                    raise RuntimeError(f"{self._runner.name}: {len(results)} results for {len(group)} items")
            except BaseException as exc:  # noqa: BLE001 - every caller of the group gets it
                for _, slot in group:
                    slot.error = exc
                    slot.done.set()
                continue
            for (_, slot), result in zip(group, results):
                slot.result = result
                slot.done.set()
