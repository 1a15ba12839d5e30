"""Atomic file writes: a reader sees the old file or the new one, never half of either.

An overwrite behaves like the shell's ``>`` in what a user can see: the file keeps its permissions (and, where
allowed, its owner), and a symlink is written through to its target rather than replaced by a file. A
device or pipe (``-o /dev/null``) is written directly. Temporary files are named ``.NAME.PID.XXXXXXXX.tmp``
so that :func:`remove_stale_leftovers` can tell a killed writer's leftovers from a running one's.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from .errors import EcgedgeError

_UMASK = os.umask(0)
os.umask(_UMASK)
#: When this process (more exactly, this module) started: a leftover modified before it cannot be its own.
_STARTED = time.time()
#: A leftover without a PID in its name (written by ecgedge before PIDs were added) is stale after this long
#: without a write: a live writer flushes every row.
_LEGACY_STALE_S = 3600.0


def _special(path: Path) -> bool:
    """An existing device, pipe or socket (``/dev/null``, ``/dev/stdout``): written in place, never replaced."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def _target(path: Path) -> Path:
    """Where a write to ``path`` lands: a symlink's target (as ``open(path, "w")`` would write), else ``path``."""
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def _adopt(tmp: str, target: Path) -> None:
    """Give the new file the old one's mode and owner (best effort), or the usual mode for a new file."""
    try:
        st = os.stat(target)
    except FileNotFoundError:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; a new file gets the usual permissions
        return
    if hasattr(os, "chown"):  # POSIX; only root may give a file away, a user may still set its group
        with contextlib.suppress(OSError):
            os.chown(tmp, st.st_uid if os.geteuid() == 0 else -1, st.st_gid)
    os.chmod(tmp, stat.S_IMODE(st.st_mode))  # after chown, which may clear set-id bits


def _mkstemp(target: Path) -> tuple[int, str]:
    return tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=target.parent)


def _cannot_write(path: Path, exc: OSError, where: str | None) -> EcgedgeError:
    return EcgedgeError(f"cannot write here ({exc.strerror or exc})", path=path, where=where,
                        fix="choose a file in a folder you can write to")


def check_output(path: str | os.PathLike[str], where: str | None = "--output") -> None:
    """Fail now, with one clear error, where writing ``path`` with :func:`atomic_open` would fail at the end: a
    folder, a place that cannot be written (read-only, ``/proc``), a parent that is a file. Creates and removes
    one temporary file; creates nothing else."""
    p = Path(path)
    if p.is_dir():
        raise EcgedgeError("is a folder; results need a file name", path=p, where=where,
                           fix=f"e.g. {os.path.join(os.fspath(p), 'results.csv')}")
    if _special(p):
        if not os.access(p, os.W_OK):
            raise EcgedgeError("cannot write here (permission denied)", path=p, where=where)
        return
    target = _target(p)
    folder = target.parent
    while not folder.exists() and folder != folder.parent:  # atomic_open creates missing folders: probe the first
        folder = folder.parent                               # one that exists
    if not folder.is_dir():
        raise EcgedgeError(f"cannot write here ({folder} is not a folder)", path=p, where=where)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise _cannot_write(p, exc, where) from None
    os.close(fd)
    os.unlink(tmp)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success fsync and rename it onto ``path`` (see the module
    docstring for modes, symlinks and devices)."""
    path = Path(path)
    if _special(path):
        with open(path, mode) as fh:  # a device or pipe cannot be replaced atomically: write it in place
            yield fh
        return
    target = _target(path)
    if target.is_dir():
        raise EcgedgeError("is a folder; cannot write a file there", path=path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _mkstemp(target)
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        _adopt(tmp, target)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class LiveOutput:
    """A text file for a live stream of rows that leaves an existing file alone until data arrives.

    Rows go to a temporary file beside the target; :meth:`publish` (called when the first result is written)
    renames it onto the target, keeping the old file's mode and writing through a symlink, and later rows go
    on to the same, now published, file, so ``tail -f`` works. Closed without :meth:`publish` (no result came:
    the source failed or ended before its first window), the temporary file is removed and the old file is
    untouched.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._tmp: str | None = None
        if _special(self.path):
            self._fh: IO[str] = open(self.path, "w")  # closed in close()
            return
        self.target = _target(self.path)
        if self.target.is_dir():
            raise EcgedgeError("is a folder; results need a file name", path=self.path, where="--output")
        self.target.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd, self._tmp = _mkstemp(self.target)
        except OSError as exc:
            raise _cannot_write(self.path, exc, "--output") from None
        self._fh = os.fdopen(fd, "w")

    @property
    def published(self) -> bool:
        return self._tmp is None

    def write(self, text: str) -> int:
        return self._fh.write(text)

    def flush(self) -> None:
        self._fh.flush()

    def publish(self) -> None:
        """Put the file in place of the target (once; later calls do nothing)."""
        if self._tmp is None:
            return
        self._fh.flush()
        _adopt(self._tmp, self.target)
        os.replace(self._tmp, self.target)
        self._tmp = None

    def close(self, publish: bool = False) -> None:
        if publish:
            self.publish()
        self._fh.close()
        if self._tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._tmp)
            self._tmp = None

    def __enter__(self) -> LiveOutput:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if os.name == "nt":  # os.kill(pid, 0) would send CTRL_C_EVENT there: never guess, keep the file
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, another user's
        return True
    return True


def remove_stale_leftovers(path: str | os.PathLike[str]) -> list[Path]:
    """Delete what killed writers of ``path`` left beside it, and return what was deleted:

    - ``.NAME.PID.XXXXXXXX.tmp`` files of :func:`atomic_open` and :class:`LiveOutput`;
    - ``.NAME.building-PID`` folders of a prepared store (``ecgedge data prepare``);
    - ``.NAME.old-PID`` folders of a store that was being swapped, once ``NAME`` is a store again.

    A leftover counts as stale only when its writer's process is gone and it was last modified before this
    process started (a PID reused by a new process keeps it). Leftovers named without a PID (older ecgedge)
    are stale after an hour without a write.
    """
    target = _target(Path(path))
    folder, name = target.parent, target.name
    tmp_re = re.compile(rf"^\.{re.escape(name)}\.(?:(\d+)\.)?[A-Za-z0-9_]+\.tmp$")
    dir_re = re.compile(rf"^\.{re.escape(name)}\.(building|old)-(\d+)$")
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    now = time.time()
    for e in entries:
        if not e.name.startswith(f".{name}."):
            continue
        try:
            st = e.stat(follow_symlinks=False)
        except OSError:
            continue
        if st.st_mtime >= _STARTED:
            continue
        m = tmp_re.match(e.name)
        if m and stat.S_ISREG(st.st_mode):
            pid = m.group(1)
            stale = not _pid_alive(int(pid)) if pid else now - st.st_mtime > _LEGACY_STALE_S
            if stale:
                with contextlib.suppress(OSError):
                    os.unlink(e.path)
                    removed.append(Path(e.path))
            continue
        m = dir_re.match(e.name)
        if m and stat.S_ISDIR(st.st_mode) and not _pid_alive(int(m.group(2))):
            # an ".old" store is the only copy if its swap was cut short before the new one was in place
            if m.group(1) == "old" and not (target / "manifest.json").exists():
                continue
            shutil.rmtree(e.path, ignore_errors=True)
            if not os.path.exists(e.path):
                removed.append(Path(e.path))
    return removed


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    with atomic_open(path, "w") as fh:
        fh.write(text)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_open(path, "wb") as fh:
        fh.write(data)
