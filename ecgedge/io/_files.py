"""Opening the files a record names: regular files only, never blocking, never outside the record's folder.

A record comes from whoever wrote it. Its header may name ``/etc/passwd`` or ``../x`` as a signal
file; a folder may hold a FIFO (``open()`` waits for a writer forever) or a symlink to ``/dev/zero``
(``read()`` never ends). Every reader in :mod:`ecgedge.io` opens files through :func:`open_regular`
and resolves WFDB signal file names through :func:`signal_file_path`.
"""

from __future__ import annotations

import os
import re
import stat
from typing import BinaryIO

from ..errors import RecordError

# O_NONBLOCK: opening a FIFO for reading otherwise waits until some process opens it for writing.
# It changes nothing for a regular file. O_CLOEXEC keeps the descriptor out of child processes.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
_SEPARATORS = re.compile(r"[/\\]")


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words a user recognises."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def open_regular(path: str, *, what: str, error_path: str | None = None, where: str | None = None,
                 fix: str | None = None, buffered: bool = True) -> BinaryIO:
    """Open ``path`` for binary reading if (after following symlinks) it is a regular file.

    Anything else (FIFO, device, socket, folder) raises :class:`RecordError` at once, before a read
    can block or run forever. ``what`` names the file in the message (``"header"``, ``"signal file
    x.dat"``); ``error_path``/``where`` say which file and field the error belongs to (a signal
    file's error belongs to its header's line). ``FileNotFoundError``, ``PermissionError`` and other
    ``OSError`` propagate for the caller to word. ``buffered=False``: the raw file, for callers that read it in one
    go with :func:`read_fully` (a buffer costs a copy and three system calls a file, and a folder run opens two
    files per record).
    """
    owner = error_path if error_path is not None else path
    fix = fix or "ecgedge reads records from regular files only; copy the data into a file"
    # stat() follows symlinks and never blocks: a FIFO or device is refused without opening it
    # (opening some devices has side effects).
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise RecordError(f"{what} is {file_kind(st.st_mode)}, not a regular file", path=owner, where=where,
                          fix=fix)
    fd = os.open(path, _OPEN_FLAGS)
    try:
        # The path may have been swapped between stat() and open(): check what was opened.
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise RecordError(f"{what} is {file_kind(st.st_mode)}, not a regular file", path=owner,
                              where=where, fix=fix)
        # O_NONBLOCK has no effect on a regular file (it only kept open() from waiting on a FIFO): left as it is
        return os.fdopen(fd, "rb") if buffered else os.fdopen(fd, "rb", buffering=0)
    except BaseException:
        os.close(fd)
        raise


def read_fully(fh: BinaryIO, n: int) -> bytes:
    """Up to ``n`` bytes of ``fh``: fewer only at the end of the file (an unbuffered read may return less)."""
    data = fh.read(n) or b""
    if len(data) >= n:
        return data
    parts, got = [data], len(data)
    while got < n:
        chunk = fh.read(n - got)
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def read_capped(fh: BinaryIO, limit: int) -> bytes | None:
    """All of ``fh`` if it holds at most ``limit`` bytes, else None (without reading more than limit + 1)."""
    size = os.fstat(fh.fileno()).st_size
    if size > limit:
        return None
    # Ask for what fstat reported (read(n) allocates n bytes up front), then whatever the file grew by
    # since, never past the limit.
    data = read_fully(fh, size + 1)
    if len(data) > size:
        data += read_fully(fh, limit + 1 - len(data))
    return None if len(data) > limit else data


def check_relative_name(name: str, *, field: str, path: str, where: str, example: str) -> None:
    """Refuse a file name from a header that is absolute or climbs out with ``..``.

    WFDB names signal files (and segments) relative to the header's folder; nothing a record needs
    lies elsewhere, and ``/etc/passwd`` or ``../../x`` would otherwise be read as samples.
    """
    if name[:1] in ("/", "\\") or (len(name) > 1 and name[1] == ":" and name[0].isalpha()):
        raise RecordError(f"'{field}' {name[:80]!r} is an absolute path", path=path, where=where,
                          fix=f"WFDB file names are relative to the header's folder: write just the name, e.g. "
                              f"{example}")
    if ".." in name and ".." in _SEPARATORS.split(name):
        raise RecordError(f"'{field}' {name[:80]!r} points outside the header's folder ('..')", path=path,
                          where=where, fix=f"WFDB file names are relative to the header's folder: put the file "
                                           f"beside the header and write just its name, e.g. {example}")


def _inside(real: str, folder: str) -> bool:
    folder = folder.rstrip(os.sep) or os.sep
    return real == folder or real.startswith(folder if folder == os.sep else folder + os.sep)


def contained_path(folder: str, name: str, *, header: str, field: str, where: str, example: str) -> str:
    """``folder/name`` after checking that it cannot reach outside the header's folder.

    ``name`` must be relative without ``..``, and its real path (symlinks resolved) must lie in the
    header's folder, either as given or as the header itself resolves: a folder of symlinks to a
    data set's files (both header and signal file linked into the same real folder) stays readable,
    while a signal file symlinked to ``/etc/passwd`` beside a header is refused.
    """
    check_relative_name(name, field=field, path=header, where=where, example=example)
    full = os.path.join(folder, name)
    if "/" not in name and os.sep not in name and not os.path.islink(full):
        return full  # a plain name that is no symlink is inside its folder by construction (the fast path)
    real = os.path.realpath(full)
    if _inside(real, os.path.realpath(folder or os.curdir)):
        return full
    if _inside(real, os.path.dirname(os.path.realpath(header))):
        return full
    raise RecordError(f"'{field}' {name[:80]!r} is a symlink that leads outside the header's folder (to {real})",
                      path=header, where=where,
                      fix="copy the file into the record's folder instead of linking to it")
