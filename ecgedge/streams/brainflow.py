"""Boards that BrainFlow drives (OpenBCI, g.tec, Shimmer ... and its synthetic board), via BoardShim.

BrainFlow delivers ExG channels in microvolts; chunks are converted to mV. The board's session is
released whatever happens: at the end of the stream, on an exception, on :meth:`close`, and when
the consumer stops iterating.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import threading
import time
import types
from collections.abc import Iterator, Sequence

import numpy as np

from ..errors import EcgedgeError
from .base import Chunk, Source, lead_names, positive

SYNTHETIC_BOARD = -1
#: Names accepted for the synthetic board.
SYNTHETIC_NAMES = ("synthetic", "synthetic_board", "-1")

_load_lock = threading.Lock()


def _pkg_resources_stand_in() -> types.ModuleType:
    """Just enough of ``pkg_resources`` for BrainFlow to find its own shared libraries.

    BrainFlow (5.x) locates ``lib/libBoardController.so`` with ``importlib.resources.files`` on a
    module name, which Python < 3.12 rejects, and then falls back to ``pkg_resources``, which
    setuptools >= 81 no longer ships. This stand-in is installed only while BrainFlow loads.
    """
    mod = types.ModuleType("pkg_resources")

    def resource_filename(package: str, resource: str) -> str:
        anchor = importlib.import_module(package)
        return os.path.join(os.path.dirname(anchor.__file__), *resource.replace("\\", "/").split("/"))

    mod.resource_filename = resource_filename
    return mod


def load_brainflow(quiet: bool = True):
    """``brainflow.board_shim`` with its native library loaded; an EcgedgeError if it cannot be."""
    with _load_lock:
        shim = "pkg_resources" not in sys.modules and importlib.util.find_spec("pkg_resources") is None
        if shim:
            sys.modules["pkg_resources"] = _pkg_resources_stand_in()
        try:
            from brainflow import board_shim

            board_shim.BoardControllerDLL.get_instance()
        except ImportError as e:
            raise EcgedgeError(f"BrainFlow boards need the brainflow package ({e})", where="brainflow",
                               fix="pip install 'ecgedge[devices]' (or pip install brainflow)") from None
        except OSError as e:
            raise EcgedgeError(f"BrainFlow's native library could not be loaded: {e}", where="brainflow",
                               fix="reinstall brainflow for this platform: pip install --force-reinstall brainflow"
                               ) from None
        finally:
            if shim:
                sys.modules.pop("pkg_resources", None)
        if quiet:
            board_shim.BoardShim.disable_board_logger()
        return board_shim


def board_id_from(board: int | str, board_shim=None) -> int:
    """A BrainFlow board id from ``-1``, ``"synthetic"``, ``"CYTON_BOARD"`` or ``"cyton"``."""
    if isinstance(board, int):
        return board
    text = str(board).strip()
    if text.lower() in SYNTHETIC_NAMES:
        return SYNTHETIC_BOARD
    try:
        return int(text)
    except ValueError:
        pass
    board_shim = board_shim or load_brainflow()
    ids = board_shim.BoardIds
    key = text.upper().replace("-", "_")
    for name in (key, key + "_BOARD"):
        if name in ids.__members__:
            return int(ids[name].value)
    raise EcgedgeError(f"unknown BrainFlow board {text!r}", where="brainflow",
                       fix="give a board id number or a BoardIds name, e.g. brainflow:synthetic, brainflow:0, "
                           "brainflow:cyton")


class BrainFlowSource(Source):
    """Live samples from a BrainFlow board (``board_id=-1``: the synthetic board, no hardware).

    ``channels`` are rows of BrainFlow's data array (as ``BoardShim.get_ecg_channels`` returns
    them); by default the board's ECG channels, else its EXG channels. ``params`` sets further
    ``BrainFlowInputParams`` fields (``mac_address``, ``ip_address``, ``serial_number`` ...).
    """

    def __init__(self, board_id: int | str = SYNTHETIC_BOARD, serial_port: str = "",
                 channels: Sequence[int] | str | None = None, chunk_seconds: float = 1 / 8,
                 leads: str | Sequence[str] | None = None, params: dict | None = None,
                 timeout: float = 5.0, quiet: bool = True) -> None:
        super().__init__()
        self._bf = load_brainflow(quiet=quiet)
        BoardShim = self._bf.BoardShim
        self.board_id = board_id_from(board_id, self._bf)
        self.serial_port = serial_port or ""
        self.chunk_seconds = positive(chunk_seconds, "chunk length", where="chunk_seconds")
        self.timeout = positive(timeout, "timeout", where="timeout")
        self.params = dict(params or {})
        where = f"brainflow board {self.board_id}"
        try:
            self.fs = float(BoardShim.get_sampling_rate(self.board_id))
            n_rows = int(BoardShim.get_num_rows(self.board_id))
            device = BoardShim.get_device_name(self.board_id)
        except self._bf.BrainFlowError as e:
            raise EcgedgeError(f"BrainFlow does not know this board: {e}", where=where,
                               fix="see BrainFlow's BoardIds for valid ids") from None
        self.name = f"{device} (brainflow {self.board_id})"
        self.channels = self._channels(channels, n_rows, where)
        self.leads = lead_names(leads, len(self.channels), where="leads")
        self.units = ("mV",) * len(self.channels)
        self._board = None
        self._board_lock = threading.Lock()

    def _channels(self, channels, n_rows: int, where: str) -> tuple[int, ...]:
        BoardShim = self._bf.BoardShim
        if channels is None or (isinstance(channels, str) and not channels.strip()):
            rows: list[int] = []
            for getter in (BoardShim.get_ecg_channels, BoardShim.get_exg_channels):
                try:
                    rows = list(getter(self.board_id))
                except self._bf.BrainFlowError:
                    rows = []
                if rows:
                    break
            if not rows:
                raise EcgedgeError("this board has no ECG or EXG channels", where=where,
                                   fix="name the data rows to read with --channels, e.g. --channels 1,2")
            return tuple(rows)
        try:
            rows = [int(c) for c in (channels.split(",") if isinstance(channels, str) else channels)]
        except (TypeError, ValueError):
            raise EcgedgeError(f"channels must be row numbers: {channels!r}", where="channels",
                               fix="e.g. --channels 1,2,3") from None
        bad = [c for c in rows if not 0 <= c < n_rows]
        if bad or not rows:
            raise EcgedgeError(f"channel row(s) {bad or rows} out of range 0..{n_rows - 1}", where="channels")
        return tuple(rows)

    def _input_params(self):
        p = self._bf.BrainFlowInputParams()
        p.serial_port = self.serial_port
        for key, value in self.params.items():
            if not hasattr(p, key):
                raise EcgedgeError(f"BrainFlowInputParams has no field {key!r}", where="params")
            setattr(p, key, value)
        return p

    def _start(self):
        board = self._bf.BoardShim(self.board_id, self._input_params())
        try:
            board.prepare_session()
        except self._bf.BrainFlowError as e:
            raise EcgedgeError(f"could not open the board: {e}", where=self.name,
                               fix="check the port/address (--serial-port) and that no other program holds it"
                               ) from None
        with self._board_lock:
            self._board = board
        try:
            board.start_stream()
        except self._bf.BrainFlowError as e:
            self._release()
            raise EcgedgeError(f"could not start streaming: {e}", where=self.name) from None
        return board

    def _release(self) -> None:
        with self._board_lock:
            board, self._board = self._board, None
        if board is None:
            return
        for step in (board.stop_stream, board.release_session):
            try:
                step()
            except Exception:
                pass  # already stopped, or the device is gone: release what can be released

    def close(self) -> None:
        self._stop.set()
        self._release()

    def chunks(self) -> Iterator[Chunk]:
        if self._stop.is_set():
            return
        board = self._start()
        rows = list(self.channels)
        t_last = time.monotonic()
        try:
            while not self._stop.wait(self.chunk_seconds):
                with self._board_lock:
                    if self._board is None:
                        break
                    try:
                        data = board.get_board_data()
                    except self._bf.BrainFlowError as e:
                        raise EcgedgeError(f"reading the board failed: {e}", where=self.name) from None
                now = time.monotonic()
                if data.shape[1] == 0:
                    if now - t_last > self.timeout:
                        raise EcgedgeError(f"no data from the board for {now - t_last:.1f} s", where=self.name,
                                           fix="check the device's power and connection")
                    continue
                t_last = now
                yield Chunk(np.ascontiguousarray(data[rows] / 1000.0, dtype=np.float32), now)
        finally:
            self._release()
