"""The one exception type ecgedge raises for bad input.

Every message names the file, where in it (line, field or signal), what is wrong and, where there
is one, the fix — e.g. ``00012_lr.hea: line 3: 'adc gain' is not a number: 'abc'``.
"""

from __future__ import annotations

import os


class EcgedgeError(Exception):
    """Bad input or a failed operation that the user can act on (never a bug in ecgedge)."""

    def __init__(
        self,
        message: str,
        *,
        path: str | os.PathLike[str] | None = None,
        where: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.path = os.fspath(path) if path is not None else None
        self.where = where
        self.message = message
        self.fix = fix
        super().__init__(self.__str__())

    def __reduce__(self):
        # the fields, not the joined text: an error raised in a worker process reads the same in the parent
        return _rebuild, (type(self), self.message, self.path, self.where, self.fix)

    def __str__(self) -> str:
        parts = []
        if self.path:
            parts.append(os.path.basename(self.path) if _short_paths() else self.path)
        if self.where:
            parts.append(self.where)
        parts.append(self.message)
        text = ": ".join(parts)
        if self.fix:
            text += f" ({self.fix})"
        return text


class RecordError(EcgedgeError):
    """A record (header, signal file, .mat) that cannot be read as it is."""


class DataSetError(EcgedgeError):
    """A data set folder, label file or split that is inconsistent."""


class FetchError(EcgedgeError):
    """A download that could not be completed or verified."""


class StoreError(EcgedgeError):
    """A prepared-data store that is missing, stale or damaged."""


def _rebuild(cls, message, path, where, fix):
    return cls(message, path=path, where=where, fix=fix)


def _short_paths() -> bool:
    # Full paths by default: a user with many folders needs to know which file it was.
    return os.environ.get("ECGEDGE_SHORT_PATHS", "") == "1"


class OptionError(EcgedgeError):
    """A command-line option that does not fit the input (``--lead V7`` for a record without V7): it stops the
    run with its one line (exit 2) rather than becoming one failed record among many."""
