"""ecgedge.fetch against a real HTTP server on 127.0.0.1 serving real PTB-XL files (no mocks)."""

from __future__ import annotations

import hashlib
import http.server
import os
import posixpath
import re
import socket
import threading
import urllib.parse
from pathlib import Path

import pytest

from ecgedge.datasets.registry import DATASETS
from ecgedge.errors import FetchError
from ecgedge.fetch import FetchReport, fetch

FILES = [
    "records100/00000/00001_lr.hea",
    "records100/00000/00001_lr.dat",
    "records100/00000/00002_lr.hea",
    "records100/00000/00002_lr.dat",
    "scp_statements.csv",
]
PREFIX = "ptb-xl/1.0.3"


# ----------------------------------------------------------------------------------------------
# A small real HTTP server


class _State:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.lock = threading.Lock()
        self.cut_after: dict[str, int] = {}  # url path -> bytes sent before cutting (first request only)
        self.wrong: set[str] = set()  # url paths always served with damaged content
        self.fail: dict[str, int] = {}  # url path -> number of 503 answers before serving it
        self.requests: list[tuple[str, str | None]] = []  # (url path, Range header)
        self.agents: set[str] = set()

    def seen(self, suffix: str) -> list[str | None]:
        with self.lock:
            return [rng for path, rng in self.requests if path.endswith(suffix)]


class _Handler(http.server.BaseHTTPRequestHandler):
    state: _State  # set on the per-server subclass

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        state = self.state
        path = posixpath.normpath(urllib.parse.unquote(urllib.parse.urlsplit(self.path).path))
        rng = self.headers.get("Range")
        with state.lock:
            state.requests.append((path, rng))
            state.agents.add(self.headers.get("User-Agent", ""))
            cut = state.cut_after.pop(path, None)
            wrong = path in state.wrong
            fail = state.fail.get(path, 0)
            if fail:
                state.fail[path] = fail - 1
        if fail:
            self.send_error(503)
            return
        local = state.root / path.lstrip("/")
        if not path.startswith("/") or ".." in path.split("/") or not local.is_file():
            self.send_error(404)
            return
        data = local.read_bytes()
        if wrong:
            data = bytes(b ^ 0xFF for b in data[:16]) + data[16:]

        start = 0
        if rng:
            m = re.fullmatch(r"bytes=(\d+)-", rng.strip())
            assert m, rng
            start = int(m.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if cut is not None:
            # Promise the whole body, send part of it, then drop the connection.
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body)


@pytest.fixture
def serve():
    """serve(root) -> (mirror URL, state); servers are shut down after the test."""
    servers = []

    def start(root: Path) -> tuple[str, _State]:
        state = _State(root)
        handler = type("Handler", (_Handler,), {"state": state})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}", state

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


# ----------------------------------------------------------------------------------------------
# Served tree built from the shared data


@pytest.fixture(scope="module")
def data_root() -> Path:
    env = os.environ.get("ECGEDGE_DATA")
    root = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"
    if not all((root / "ptb-xl" / rel).is_file() for rel in FILES):
        pytest.skip(f"shared PTB-XL sample files not found under {root}")
    return root


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_sums(dataset_dir: Path, lines: list[str]) -> None:
    (dataset_dir / "SHA256SUMS.txt").write_bytes(("\r\n".join(lines) + "\r\n").encode())


@pytest.fixture
def tree(tmp_path: Path, data_root: Path) -> Path:
    """tmp_path/srv/ptb-xl/1.0.3/... symlinked to the real files, with a computed SHA256SUMS.txt."""
    srv = tmp_path / "srv"
    ds = srv / PREFIX
    lines = []
    for i, rel in enumerate(FILES):
        src = data_root / "ptb-xl" / rel
        dst = ds / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.symlink_to(src)
        # Both manifest styles PhysioNet-like servers use: text and '*' binary marker.
        lines.append(f"{_sha(src)} {'*' if i % 2 else ' '}{rel}")
    _write_sums(ds, lines)
    return srv


def _original(data_root: Path, rel: str) -> bytes:
    return (data_root / "ptb-xl" / rel).read_bytes()


def _files_under(path: Path) -> set[str]:
    return (
        {p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()} if path.exists() else set()
    )


# ----------------------------------------------------------------------------------------------
# Tests


def test_registry() -> None:
    assert DATASETS["ptbxl"].source.root_url() == "https://physionet.org/files/ptb-xl/1.0.3/"
    assert DATASETS["physionet2017"].source.root_url() == "https://physionet.org/files/challenge-2017/1.0.0/"
    assert DATASETS["cinc2021"].source.root_url("http://m/x/") == "http://m/x/challenge-2021/1.0.3/"
    cpsc = DATASETS["cpsc2018"].source
    assert (cpsc.slug, cpsc.version, cpsc.subdir) == ("challenge-2021", "1.0.3", "training/cpsc_2018/")
    assert "2021" in cpsc.description
    assert DATASETS["mitdb"].source.root_url() == "https://physionet.org/files/mitdb/1.0.0/"


def test_full_fetch_then_second_run_skips(tree: Path, data_root: Path, serve, tmp_path: Path) -> None:
    mirror, state = serve(tree)
    out = tmp_path / "out"
    report = fetch("ptbxl", out, mirror=mirror, progress=True, retries=1, timeout=5)
    assert isinstance(report, FetchReport)
    assert sorted(report.downloaded) == sorted(FILES)
    assert report.skipped == report.resumed == report.refetched == []
    assert report.bytes == sum(len(_original(data_root, rel)) for rel in FILES)
    for rel in FILES:
        assert (out / rel).read_bytes() == _original(data_root, rel)
    assert (out / "SHA256SUMS.txt").read_bytes() == (tree / PREFIX / "SHA256SUMS.txt").read_bytes()
    assert not list(out.rglob("*.part"))
    assert "5 downloaded" in report.summary()
    assert all(rng is None for _, rng in state.requests)
    assert len(state.requests) == len(FILES) + 1
    assert state.agents and all(a.startswith("ecgedge/") for a in state.agents)

    again = fetch("ptbxl", out, mirror=mirror, progress=False, retries=1, timeout=5)
    assert again.downloaded == [] and again.bytes == 0
    assert sorted(again.skipped) == sorted(FILES)
    assert len(state.requests) == len(FILES) + 2  # only the manifest was requested again


def test_corrupt_local_file_is_refetched(tree: Path, data_root: Path, serve, tmp_path: Path) -> None:
    mirror, _ = serve(tree)
    out = tmp_path / "out"
    fetch("ptbxl", out, mirror=mirror, progress=False, retries=1, timeout=5)
    victim = "records100/00000/00001_lr.dat"
    with open(out / victim, "r+b") as fh:
        fh.seek(100)
        fh.write(b"\x00\x01\x02\x03garbage")
    report = fetch("ptbxl", out, mirror=mirror, progress=False, retries=1, timeout=5)
    assert report.refetched == [victim]
    assert report.downloaded == [victim]
    assert sorted(report.skipped) == sorted(set(FILES) - {victim})
    assert (out / victim).read_bytes() == _original(data_root, victim)


def test_interrupted_download_resumes_with_range(tree: Path, data_root: Path, serve, tmp_path: Path) -> None:
    mirror, state = serve(tree)
    victim = "records100/00000/00002_lr.dat"
    state.cut_after[f"/{PREFIX}/{victim}"] = 5000
    out = tmp_path / "out"
    report = fetch("ptbxl", out, mirror=mirror, progress=False, retries=2, timeout=5)
    ranges = state.seen(victim)
    assert ranges == [None, "bytes=5000-"]
    assert report.resumed == [victim]
    assert victim in report.downloaded
    assert (out / victim).read_bytes() == _original(data_root, victim)
    assert not (out / (victim + ".part")).exists()


def test_leftover_part_from_earlier_run_is_resumed(
    tree: Path, data_root: Path, serve, tmp_path: Path
) -> None:
    mirror, state = serve(tree)
    victim = "records100/00000/00001_lr.dat"
    original = _original(data_root, victim)
    out = tmp_path / "out"
    part = out / (victim + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(original[:7000])
    report = fetch("ptbxl", out, mirror=mirror, progress=False, only=[victim], retries=1, timeout=5)
    assert report.resumed == [victim]
    assert state.seen(victim) == ["bytes=7000-"]
    assert report.bytes == len(original) - 7000
    assert (out / victim).read_bytes() == original


def test_only_filter(tree: Path, serve, tmp_path: Path) -> None:
    mirror, _ = serve(tree)
    out = tmp_path / "out"
    report = fetch("ptbxl", out, mirror=mirror, progress=False, only=["records100/*/00002_lr.*"], timeout=5)
    assert sorted(report.downloaded) == ["records100/00000/00002_lr.dat", "records100/00000/00002_lr.hea"]
    assert _files_under(out) == {"SHA256SUMS.txt", *report.downloaded}
    with pytest.raises(FetchError, match="no listed file matches"):
        fetch("ptbxl", out, mirror=mirror, progress=False, only=["nothing/*"], timeout=5)


@pytest.mark.parametrize(
    "evil", ["../evil.dat", "/etc/passwd", "records100/../../evil.dat", "a\\..\\..\\evil.dat", "C:/evil.dat"]
)
def test_escaping_path_is_refused(evil: str, tree: Path, serve, tmp_path: Path) -> None:
    ds = tree / PREFIX
    lines = (ds / "SHA256SUMS.txt").read_text().splitlines()
    _write_sums(ds, [*lines, f"{'0' * 64}  {evil}"])
    mirror, state = serve(tree)
    out = tmp_path / "deep" / "out"
    before = _files_under(tmp_path)
    with pytest.raises(FetchError, match="refusing listed path") as err:
        fetch("ptbxl", out, mirror=mirror, progress=False, retries=0, timeout=5)
    assert "SHA256SUMS.txt" in str(err.value)
    assert [p for p, _ in state.requests] == [f"/{PREFIX}/SHA256SUMS.txt"]  # nothing else downloaded
    assert not out.exists()
    assert _files_under(tmp_path) == before


def test_symlink_escaping_out_is_refused(tree: Path, serve, tmp_path: Path) -> None:
    mirror, state = serve(tree)
    out = tmp_path / "out"
    outside = tmp_path / "outside"
    outside.mkdir()
    out.mkdir()
    (out / "records100").symlink_to(outside, target_is_directory=True)
    with pytest.raises(FetchError, match="outside"):
        fetch("ptbxl", out, mirror=mirror, progress=False, retries=0, timeout=5)
    assert list(outside.iterdir()) == []
    assert list(out.iterdir()) == [out / "records100"]
    assert len(state.requests) == 1


def test_hash_mismatch_raises_naming_file(tree: Path, serve, tmp_path: Path) -> None:
    mirror, state = serve(tree)
    victim = "records100/00000/00001_lr.hea"
    state.wrong.add(f"/{PREFIX}/{victim}")
    out = tmp_path / "out"
    with pytest.raises(FetchError) as err:
        fetch("ptbxl", out, mirror=mirror, progress=False, only=[victim], retries=1, timeout=5)
    text = str(err.value)
    assert victim in text and "mismatch" in text
    assert _sha(tree / PREFIX / victim) in text  # the expected hash
    assert len(state.seen(victim)) == 2  # downloaded, then once more from zero
    assert all(rng is None for rng in state.seen(victim))
    assert not (out / victim).exists()
    assert not (out / (victim + ".part")).exists()


def test_missing_manifest_is_refused(tmp_path: Path, serve) -> None:
    (tmp_path / "empty").mkdir()
    mirror, _ = serve(tmp_path / "empty")
    with pytest.raises(FetchError, match="cannot be verified") as err:
        fetch("mitdb", tmp_path / "out", mirror=mirror, progress=False, retries=0, timeout=5)
    assert "--mirror" in str(err.value)
    assert not (tmp_path / "out").exists()


def test_closed_port_fails_after_bounded_retries(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(FetchError, match="2 attempt"):
        fetch(
            "ptbxl", tmp_path / "out", mirror=f"http://127.0.0.1:{port}", progress=False, retries=1, timeout=1
        )
    assert not (tmp_path / "out").exists()


def test_unknown_dataset() -> None:
    with pytest.raises(FetchError, match="unknown data set"):
        fetch("nope", "unused", progress=False)


@pytest.mark.parametrize("kind", ["complete", "too_long", "damaged"])
def test_leftover_part_edge_cases(kind: str, tree: Path, data_root: Path, serve, tmp_path: Path) -> None:
    mirror, state = serve(tree)
    victim = "records100/00000/00002_lr.hea"
    original = _original(data_root, victim)
    part = tmp_path / "out" / (victim + ".part")
    part.parent.mkdir(parents=True)
    leftover = {
        "complete": original,  # server answers 416 bytes */N: nothing left to fetch
        "too_long": original + b"junk",  # 416 and too long: start again
        "damaged": b"X" * 10 + original[10:50],  # resumes, fails the hash, fetched again from zero
    }[kind]
    part.write_bytes(leftover)
    report = fetch(
        "ptbxl", tmp_path / "out", mirror=mirror, progress=False, only=[victim], retries=2, timeout=5
    )
    assert report.downloaded == [victim]
    assert (tmp_path / "out" / victim).read_bytes() == original
    assert not part.exists()
    expected = {
        "complete": [f"bytes={len(original)}-"],
        "too_long": [f"bytes={len(original) + 4}-", None],
        "damaged": ["bytes=50-", None],
    }[kind]
    assert state.seen(victim) == expected


def test_server_errors_are_retried(tree: Path, data_root: Path, serve, tmp_path: Path) -> None:
    mirror, state = serve(tree)
    victim = "scp_statements.csv"
    state.fail[f"/{PREFIX}/SHA256SUMS.txt"] = 1
    state.fail[f"/{PREFIX}/{victim}"] = 2
    out = tmp_path / "out"
    report = fetch("ptbxl", out, mirror=mirror, progress=False, only=[victim], retries=2, timeout=5)
    assert report.downloaded == [victim]
    assert (out / victim).read_bytes() == _original(data_root, victim)
    assert len(state.seen(victim)) == 3

    state.fail[f"/{PREFIX}/{victim}"] = 5
    (out / victim).unlink()
    with pytest.raises(FetchError, match="503") as err:
        fetch("ptbxl", out, mirror=mirror, progress=False, only=[victim], retries=1, timeout=5)
    assert victim in str(err.value)
