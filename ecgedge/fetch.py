"""Download PhysioNet data sets, verified file by file against the server's ``SHA256SUMS.txt``.

``fetch("ptbxl", "data/ptb-xl")`` downloads ``SHA256SUMS.txt`` from ``{mirror}/{slug}/{version}/`` (the
data set's PhysioNet source in :mod:`ecgedge.datasets.registry`), refuses the whole manifest if any listed
path could land outside the output folder, skips files that are already present with the right hash, and
downloads the rest to ``<file>.part`` (resuming with an HTTP ``Range`` request where a ``.part`` exists),
checks the sha256 and only then moves the file onto its final name with ``os.replace``. A copy of the
manifest is kept at ``<out>/SHA256SUMS.txt``.

Standard library and ecgedge's data-set registry only (``rich`` is imported inside functions for the
progress bar). Every network or verification problem is raised as :class:`ecgedge.errors.FetchError`; every
socket operation has a timeout and every retry loop is bounded by ``retries``.
"""

from __future__ import annotations

import fnmatch
import hashlib
import http.client
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Self

from ecgedge.datasets.registry import DATASETS, fetchable
from ecgedge.errors import FetchError

__all__ = ["FetchReport", "fetch"]

SUMS_NAME = "SHA256SUMS.txt"

_CHUNK = 1 << 20  # 1 MiB
_BACKOFF_BASE = 0.2  # seconds; doubled after each failed attempt
_BACKOFF_CAP = 5.0
_MAX_SUMS_BYTES = 256 << 20  # a manifest larger than this is not a manifest
_SUMS_LINE = re.compile(r"^([0-9a-fA-F]{64})[ \t]+\*?(.*)$")
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)
_UNSATISFIED_RANGE = re.compile(r"^\s*bytes\s+\*/(\d+)\s*$", re.IGNORECASE)


@dataclass
class FetchReport:
    """What one :func:`fetch` call did.

    ``downloaded`` lists every file written in this run; ``resumed`` (continued from a ``.part``
    with a Range request) and ``refetched`` (a local file with the wrong hash that was replaced) are
    subsets of it. ``skipped`` lists files already present with the right hash. ``bytes`` counts the
    data-file bytes received over the network (the manifest not included).
    """

    downloaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    refetched: list[str] = field(default_factory=list)
    bytes: int = 0
    dataset: str = ""
    out: str = ""

    def summary(self) -> str:
        head = f"{self.dataset}: " if self.dataset else ""
        text = (
            f"{head}{len(self.downloaded)} downloaded ({_human(self.bytes)}), "
            f"{len(self.skipped)} already present and verified"
        )
        extra = []
        if self.resumed:
            extra.append(f"{len(self.resumed)} resumed")
        if self.refetched:
            extra.append(f"{len(self.refetched)} corrupt local file(s) replaced")
        if extra:
            text += "; " + ", ".join(extra)
        if self.out:
            text += f" -> {self.out}"
        return text


def fetch(
    dataset: str,
    out: str | os.PathLike[str],
    *,
    mirror: str | None = None,
    retries: int = 4,
    timeout: float = 30.0,
    progress: bool = True,
    only: list[str] | None = None,
) -> FetchReport:
    """Download ``dataset`` (a data set with a PhysioNet source in :mod:`ecgedge.datasets.registry`) into ``out``
    and verify every file.

    ``only`` keeps the files whose path relative to the data set root matches one of the glob
    patterns (``fnmatch``, where ``*`` also matches ``/``). ``retries`` is the number of extra
    attempts per request after a network failure. Raises :class:`FetchError` on any problem.
    """
    if dataset not in fetchable():
        raise FetchError(
            f"unknown data set {dataset!r}",
            fix=f"choose one of: {', '.join(sorted(fetchable()))}",
        )
    source = DATASETS[dataset].source
    if retries < 0:
        raise FetchError(f"retries must be >= 0, got {retries}", fix="pass retries=0 or more")
    out_path = Path(out)
    root_url = source.root_url(mirror)
    client = _Client(timeout=timeout, retries=retries)

    raw = client.get_manifest(root_url + SUMS_NAME)
    entries = _parse_sums(raw, root_url + SUMS_NAME)
    # Every listed path is checked before anything is written: a manifest with one escaping path is
    # not trusted at all.
    out_resolved = out_path.resolve()
    targets: dict[str, tuple[str, Path]] = {}
    for lineno, rel, digest in entries:
        dest = _safe_destination(out_path, out_resolved, rel, lineno, root_url + SUMS_NAME)
        if rel in targets and targets[rel][0] != digest:
            raise FetchError(
                f"{rel!r} is listed twice with different hashes",
                path=root_url + SUMS_NAME,
                where=f"line {lineno}",
                fix="the manifest is inconsistent; try another --mirror",
            )
        targets[rel] = (digest, dest)

    selected = [rel for rel in targets if rel.startswith(source.subdir)] if source.subdir else list(targets)
    if source.subdir and not selected:
        raise FetchError(
            f"no file under {source.subdir!r} is listed",
            path=root_url + SUMS_NAME,
            fix="the mirror does not hold this data set as expected; try another --mirror",
        )
    if only:
        selected = [rel for rel in selected if any(fnmatch.fnmatchcase(rel, pat) for pat in only)]
        if not selected:
            raise FetchError(
                f"no listed file matches {', '.join(repr(p) for p in only)}",
                path=root_url + SUMS_NAME,
                fix="patterns are matched against paths relative to the data set root, "
                "e.g. 'records100/00000/*'",
            )

    if out_path.exists() and not out_path.is_dir():
        raise FetchError("output path exists and is not a folder", path=out_path, fix="choose another --out")
    _local(lambda: out_path.mkdir(parents=True, exist_ok=True), out_path)
    _write_atomic(out_path / SUMS_NAME, raw)

    report = FetchReport(dataset=dataset, out=str(out_path))
    with _Progress(progress, len(selected), dataset) as bar:
        for rel in selected:
            digest, dest = targets[rel]
            _fetch_one(client, root_url + urllib.parse.quote(rel, safe="/"), rel, dest, digest, report, bar)
            bar.file_done()
    return report


# ----------------------------------------------------------------------------------------------
# Manifest


def _parse_sums(raw: bytes, where_url: str) -> list[tuple[int, str, str]]:
    """(line number, normalised relative path, lower-case hex digest) for every entry."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FetchError(
            f"manifest is not UTF-8 text ({exc})", path=where_url, fix="try another --mirror"
        ) from None
    text = text.removeprefix("\ufeff")
    entries = []
    for lineno, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _SUMS_LINE.match(line)
        if not m:
            raise FetchError(
                f"not a '<sha256>  <path>' line: {line[:120]!r}",
                path=where_url,
                where=f"line {lineno}",
                fix="the manifest is damaged; try again or use another --mirror",
            )
        rel = _normalise(m.group(2), lineno, where_url)
        if rel == SUMS_NAME:
            continue
        entries.append((lineno, rel, m.group(1).lower()))
    if not entries:
        raise FetchError("manifest lists no files", path=where_url, fix="try another --mirror")
    return entries


def _normalise(listed: str, lineno: int, where_url: str) -> str:
    def refuse(why: str) -> FetchError:
        return FetchError(
            f"refusing listed path {listed!r}: {why}",
            path=where_url,
            where=f"line {lineno}",
            fix="the manifest is unsafe; nothing was downloaded. Use a trusted --mirror",
        )

    if not listed:
        raise refuse("empty path")
    if "\x00" in listed or any(ord(c) < 0x20 or ord(c) == 0x7F for c in listed):
        raise refuse("control character in path")
    if "\\" in listed:
        raise refuse("backslash in path")
    if listed.startswith("/") or PurePosixPath(listed).is_absolute():
        raise refuse("absolute path")
    win = PureWindowsPath(listed)
    if win.drive or win.root:
        raise refuse("absolute path")
    parts = [p for p in listed.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise refuse("'..' component")
    if not parts:
        raise refuse("names no file")
    return "/".join(parts)


def _safe_destination(out: Path, out_resolved: Path, rel: str, lineno: int, where_url: str) -> Path:
    dest = out.joinpath(*rel.split("/"))
    resolved = dest.resolve()
    if resolved == out_resolved or not resolved.is_relative_to(out_resolved):
        raise FetchError(
            f"refusing listed path {rel!r}: it resolves to {resolved}, outside {out_resolved}",
            path=where_url,
            where=f"line {lineno}",
            fix="remove the symbolic link in the output folder, or use a trusted --mirror",
        )
    return dest


# ----------------------------------------------------------------------------------------------
# One file


def _fetch_one(
    client: _Client, url: str, rel: str, dest: Path, digest: str, report: FetchReport, bar: _Progress
) -> None:
    part = dest.with_name(dest.name + ".part")
    replacing = False
    if dest.is_dir():
        raise FetchError(
            "a folder is in the way of a listed file", path=dest, fix="move or remove that folder"
        )
    if dest.is_file() or dest.is_symlink():
        if dest.is_file() and _sha256(dest) == digest:
            report.skipped.append(rel)
            _unlink(part)  # a stale partial download of a file that is already complete
            return
        replacing = True
    _local(lambda: dest.parent.mkdir(parents=True, exist_ok=True), dest.parent)

    resumed = False
    got = ""
    for attempt in range(2):  # a wrong hash is retried once, from zero
        if attempt:
            _unlink(part)
        resumed |= client.download(url, part, report, bar, rel)
        got = _sha256(part)
        if got == digest:
            _local(lambda: os.replace(part, dest), dest)
            report.downloaded.append(rel)
            if resumed:
                report.resumed.append(rel)
            if replacing:
                report.refetched.append(rel)
            return
    _unlink(part)
    raise FetchError(
        f"sha256 mismatch for {rel}: expected {digest}, got {got} (downloaded twice)",
        path=dest,
        fix="the server sends different bytes than its manifest lists; try again later or another --mirror",
    )


# ----------------------------------------------------------------------------------------------
# HTTP


class _Retry(Exception):
    """A transfer failure worth another attempt."""


class _Client:
    def __init__(self, *, timeout: float, retries: int) -> None:
        self.timeout = timeout
        self.retries = retries
        self.headers = {"User-Agent": f"ecgedge/{_version()}", "Accept-Encoding": "identity"}

    def open(self, url: str, extra: dict[str, str] | None = None) -> Any:
        """The one place ecgedge talks HTTP."""
        headers = dict(self.headers)
        if extra:
            headers.update(extra)
        request = urllib.request.Request(url, headers=headers)
        return urllib.request.urlopen(request, timeout=self.timeout)

    def _attempts(self) -> Iterator[int]:
        """Yield attempt numbers; sleep with capped exponential backoff between them."""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(min(_BACKOFF_CAP, _BACKOFF_BASE * 2 ** (attempt - 1)))
            yield attempt

    def _give_up(self, url: str, last: str) -> FetchError:
        return FetchError(
            f"download failed after {self.retries + 1} attempt(s): {last}",
            path=url,
            fix="check the network connection and try again (partial files are resumed), "
            "or use another --mirror",
        )

    def get_manifest(self, url: str) -> bytes:
        last = ""
        for _ in self._attempts():
            try:
                with self.open(url) as resp:
                    length = _content_length(resp)
                    if length is not None and length > _MAX_SUMS_BYTES:
                        raise FetchError(f"manifest is implausibly large ({length} bytes)", path=url)
                    chunks = []
                    size = 0
                    while True:
                        chunk = resp.read(_CHUNK)
                        if not chunk:
                            break
                        size += len(chunk)
                        if size > _MAX_SUMS_BYTES:
                            raise FetchError(
                                f"manifest is implausibly large (> {_MAX_SUMS_BYTES} bytes)", path=url
                            )
                        chunks.append(chunk)
                    if length is not None and size < length:
                        raise _Retry(f"connection closed after {size} of {length} bytes")
                    return b"".join(chunks)
            except urllib.error.HTTPError as exc:
                exc.close()  # the error body holds the connection open
                if exc.code == 404:
                    raise FetchError(
                        f"the server has no {SUMS_NAME} (HTTP 404), so the download cannot be verified",
                        path=url,
                        fix="check the data set name and version, or use another --mirror that "
                        f"serves {SUMS_NAME}",
                    ) from None
                last = _http_error_text(exc)
                if not _retryable_status(exc.code):
                    raise FetchError(f"server refused the request: {last}", path=url) from None
            except _Retry as exc:
                last = str(exc)
            except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
                last = _network_error_text(exc)
        raise self._give_up(url, last)

    def download(self, url: str, part: Path, report: FetchReport, bar: _Progress, rel: str) -> bool:
        """Bring ``part`` to the full file; True if bytes already in ``part`` were kept (a resume)."""
        resumed = False
        last = ""
        for _ in self._attempts():
            offset = part.stat().st_size if part.exists() else 0
            extra = {"Range": f"bytes={offset}-"} if offset else None
            try:
                with self.open(url, extra) as resp:
                    status = resp.status
                    if status == 206 and offset:
                        start = _range_start(resp.headers.get("Content-Range"))
                        if start != offset:
                            _unlink(part)
                            raise _Retry(f"server answered the range request at byte {start}, not {offset}")
                        mode = "ab"
                    elif status in (200, 206):
                        # 200: the server ignored the Range header; 206 without one: treat as whole.
                        mode = "wb"
                        offset = 0
                    else:
                        raise FetchError(f"unexpected HTTP status {status}", path=url)
                    length = _content_length(resp)
                    bar.start_file(rel, None if length is None else offset + length, offset)
                    received = self._copy(resp, part, mode, report, bar)
                    if length is not None and received < length:
                        raise _Retry(f"connection closed after {received} of {length} bytes")
                    if mode == "ab":
                        resumed = True
                    return resumed
            except urllib.error.HTTPError as exc:
                exc.close()  # the error body holds the connection open
                if exc.code == 416 and offset:
                    total = _unsatisfied_total(exc.headers.get("Content-Range") if exc.headers else None)
                    if total == offset:
                        return True  # the .part is already complete; the hash decides
                    _unlink(part)  # longer than the file, or unknown: start again
                    last = "HTTP 416 (range not satisfiable); restarting from zero"
                    continue
                last = _http_error_text(exc)
                if exc.code == 404:
                    raise FetchError(
                        "file is listed in the manifest but the server has no such file (HTTP 404)",
                        path=url,
                        fix="try again later or use another --mirror",
                    ) from None
                if not _retryable_status(exc.code):
                    raise FetchError(f"server refused the request: {last}", path=url) from None
            except _Retry as exc:
                last = str(exc)
            except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
                last = _network_error_text(exc)
        raise self._give_up(url, last)

    @staticmethod
    def _copy(resp: Any, part: Path, mode: str, report: FetchReport, bar: _Progress) -> int:
        try:
            fh = open(part, mode)  # noqa: SIM115 - closed below; local errors are told apart
        except OSError as exc:
            raise FetchError(f"cannot write: {exc.strerror or exc}", path=part) from None
        received = 0
        with fh:
            while True:
                chunk = resp.read(_CHUNK)  # network errors propagate to the retry loop
                if not chunk:
                    break
                try:
                    fh.write(chunk)
                except OSError as exc:
                    raise FetchError(f"cannot write: {exc.strerror or exc}", path=part) from None
                received += len(chunk)
                report.bytes += len(chunk)
                bar.advance(len(chunk))
        return received


def _content_length(resp: Any) -> int | None:
    value = resp.headers.get("Content-Length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _range_start(value: str | None) -> int | None:
    m = _CONTENT_RANGE.match(value or "")
    return int(m.group(1)) if m else None


def _unsatisfied_total(value: str | None) -> int | None:
    m = _UNSATISFIED_RANGE.match(value or "")
    return int(m.group(1)) if m else None


def _retryable_status(code: int) -> bool:
    return code >= 500 or code in (408, 429)


def _http_error_text(exc: urllib.error.HTTPError) -> str:
    return f"HTTP {exc.code} {exc.reason}".rstrip()


def _network_error_text(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    if isinstance(exc, urllib.error.URLError) and reason is not None:
        return str(reason) or type(reason).__name__
    return str(exc) or type(exc).__name__


# ----------------------------------------------------------------------------------------------
# Local files


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while True:
                chunk = fh.read(_CHUNK)
                if not chunk:
                    break
                h.update(chunk)
    except OSError as exc:
        raise FetchError(f"cannot read: {exc.strerror or exc}", path=path) from None
    return h.hexdigest()


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise FetchError(f"cannot remove: {exc.strerror or exc}", path=path) from None


def _local(action: Any, path: Path) -> Any:
    """Run a local file-system action; its OSError becomes a FetchError naming ``path``."""
    try:
        return action()
    except OSError as exc:
        raise FetchError(f"cannot write: {exc.strerror or exc}", path=path) from None


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".part")

    def write() -> None:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    try:
        write()
    except OSError as exc:
        raise FetchError(f"cannot write: {exc.strerror or exc}", path=path) from None


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


def _version() -> str:
    import ecgedge

    return str(getattr(ecgedge, "__version__", "dev"))


# ----------------------------------------------------------------------------------------------
# Progress


class _Progress:
    """A rich progress bar for the file being downloaded (``[i/n] path``), or nothing when disabled."""

    def __init__(self, enabled: bool, nfiles: int, name: str) -> None:
        self.enabled = enabled
        self.nfiles = nfiles
        self.name = name
        self.done = 0
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> Self:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
            )
            self._progress.start()
            self._task = self._progress.add_task(f"{self.name}: checking local files", total=None)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def start_file(self, rel: str, total: int | None, completed: int) -> None:
        if self._progress is None:
            return
        from rich.markup import escape

        label = rel if len(rel) <= 40 else "…" + rel[-39:]
        # the description is Rich markup; file names come from the mirror's listing: escape them
        self._progress.reset(
            self._task,
            description=f"{escape(self.name)} [{self.done + 1}/{self.nfiles}] {escape(label)}",
            total=total,
            completed=completed,
        )

    def advance(self, n: int) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, n)

    def file_done(self) -> None:
        self.done += 1
