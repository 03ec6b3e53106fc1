"""Setting attributes on moto's classes for the length of a local run, and putting them back as they were.

Emulation only: the local Glue and Athena runners make moto's job runs and query executions do their work
(glue_runner.py, athena_runner.py). Both patch the same way, so the way lives here.
"""

from __future__ import annotations

from typing import Any

_INHERITED = object()  # the class inherited the attribute: restored by deleting the override


class ClassPatches:
    """Attributes set on classes, undone in reverse order."""

    def __init__(self) -> None:
        self._saved: list[tuple[Any, str, Any]] = []

    def set(self, owner: Any, attribute: str, value: Any) -> None:
        self._saved.append((owner, attribute, vars(owner).get(attribute, _INHERITED)))
        setattr(owner, attribute, value)

    def undo(self) -> None:
        for owner, attribute, original in reversed(self._saved):
            if original is _INHERITED:
                delattr(owner, attribute)
            else:
                setattr(owner, attribute, original)
        self._saved.clear()


def emulated_status(original: Any) -> property:
    """A ``status`` property that reports the local run's state once it is set (``emulated_state``), and moto's
    own state (``original``, a property) until then."""

    def fget(self: Any) -> Any:
        state = getattr(self, "emulated_state", None)
        return state if state is not None else original.fget(self)

    return property(fget, original.fset)
