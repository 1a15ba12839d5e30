"""The data sets ecgedge knows, one entry each, and what makes a file a record.

Each entry says what the data set is, its label tasks (the default first), the folder it is found in under the
data root (``$ECGEDGE_DATA``), where ``ecgedge data fetch`` downloads it from on PhysioNet, and the sampling
rates it is distributed at when there are several (PTB-XL: 100 and 500 Hz). The loaders, ``fetch``, the CLI,
training and ``ecgedge bench`` read it from here. Standard library only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataSetError

DEFAULT_MIRROR = "https://physionet.org/files"


@dataclass(frozen=True)
class PhysioNetSource:
    """Where a data set lives: ``{mirror}/{slug}/{version}/``, optionally only the files under ``subdir``;
    ``description`` says what that download holds."""

    slug: str
    version: str
    subdir: str = ""
    description: str = ""

    def root_url(self, mirror: str | None = None) -> str:
        base = (mirror or DEFAULT_MIRROR).rstrip("/")
        return f"{base}/{self.slug}/{self.version}/"


@dataclass(frozen=True)
class DataSetInfo:
    name: str
    description: str
    #: label tasks, the default first; empty: records only (fetched and read, not loaded as a labelled set)
    tasks: tuple[str, ...] = ()
    #: the folder under the data root a loader reads when given none
    folder: str | None = None
    source: PhysioNetSource | None = None
    #: the sampling rates (Hz) the records are distributed at, when there is a choice
    rates: tuple[float, ...] = ()

    @property
    def default_task(self) -> str | None:
        return self.tasks[0] if self.tasks else None

    def default_root(self) -> Path | None:
        from .base import data_root

        return data_root() / self.folder if self.folder else None

    def files_rate(self, fs: float | None) -> float | None:
        """Which distributed rate to read for a store or model at ``fs`` Hz: the lowest at or above ``fs`` (going
        down loses nothing the model sees), else the highest. None where there is no choice or no ``fs``."""
        if not self.rates or not fs:
            return None
        return next((r for r in sorted(self.rates) if r >= fs), max(self.rates))


DATASETS: dict[str, DataSetInfo] = {d.name: d for d in (
    DataSetInfo("ptbxl", "PTB-XL, 12 leads, 100/500 Hz, official strat_fold",
                ("superdiagnostic", "subdiagnostic", "diagnostic", "form", "rhythm", "all"), "ptb-xl",
                PhysioNetSource("ptb-xl", "1.0.3", description="PTB-XL, 21,799 clinical 12-lead ECGs (10 s, "
                                                               "100/500 Hz)"),
                rates=(100.0, 500.0)),
    DataSetInfo("cpsc2018", "CPSC2018 original .mat + REFERENCE.csv, 9 classes", ("cpsc9",), "cpsc2018",
                PhysioNetSource("challenge-2021", "1.0.3", subdir="training/cpsc_2018/", description=(
                    "CPSC 2018 (China Physiological Signal Challenge) 12-lead ECGs, as converted to WFDB for the "
                    "PhysioNet/CinC Challenge 2021 (files under training/cpsc_2018/ of challenge-2021/1.0.3)"))),
    DataSetInfo("cinc2021", "PhysioNet/CinC 2021 WFDB with SNOMED # Dx codes", ("cpsc9", "all"), "cinc2021",
                PhysioNetSource("challenge-2021", "1.0.3", description=(
                    "PhysioNet/CinC Challenge 2021: 12-lead ECGs from several sources, WFDB format"))),
    DataSetInfo("cinc2020", "PhysioNet/CinC 2020 WFDB with SNOMED # Dx codes", ("cpsc9", "all"), "cinc2020"),
    DataSetInfo("physionet2017", "PhysioNet/CinC 2017 single-lead AF: N, A, O, ~", ("rhythm",),
                "physionet2017/training2017",
                PhysioNetSource("challenge-2017", "1.0.0", description=(
                    "PhysioNet/CinC Challenge 2017: single-lead AF classification from short ECG recordings"))),
    DataSetInfo("folder", "your own folder of records + labels CSV", ("labels",)),
    DataSetInfo("mitdb", "MIT-BIH Arrhythmia Database (48 records; beat annotations, no record labels)",
                source=PhysioNetSource("mitdb", "1.0.0", description="MIT-BIH Arrhythmia Database (48 records)")),
)}


def labelled() -> list[str]:
    """The data sets that load as labelled sets (``load_dataset``), in registry order."""
    return [n for n, d in DATASETS.items() if d.tasks]


def fetchable() -> list[str]:
    """The data sets ``ecgedge data fetch`` downloads."""
    return [n for n, d in DATASETS.items() if d.source]


def dataset_info(name: str, *, labels: bool = True) -> DataSetInfo:
    """The entry for ``name``; ``labels``: it must load as a labelled set. An unknown name is an error that
    lists the known ones."""
    names = labelled() if labels else list(DATASETS)
    if name in DATASETS and name not in names:
        raise DataSetError(f"data set {name!r} has no record labels ecgedge loads (records only)",
                           fix="read its records one by one (ecgedge data info RECORD); labelled sets: "
                               + ", ".join(names))
    if name not in names:
        raise DataSetError(f"unknown data set {name!r}", fix="choose one of " + ", ".join(names))
    return DATASETS[name]


def files_rate(name: str, fs: float | None) -> float | None:
    """:meth:`DataSetInfo.files_rate` of a data set by name (None for a name the registry does not know)."""
    d = DATASETS.get(name)
    return d.files_rate(fs) if d else None


#: Files that name a record.
RECORD_SUFFIXES = (".hea", ".mat")


def is_record_file(path: Path) -> bool:
    """Whether a file found in a folder is a record of its own: a WFDB header, or a ``.mat`` without one beside
    it (a CPSC2018 struct file; a ``.mat`` beside a header is that header's signal file)."""
    suffix = path.suffix.lower()
    return suffix == ".hea" or (suffix == ".mat" and not path.with_suffix(".hea").exists())


def record_files(folder: str | os.PathLike[str]) -> list[Path]:
    """The records in a folder and its subfolders, in sorted order (see :func:`is_record_file`)."""
    return [f for f in sorted(Path(folder).rglob("*")) if is_record_file(f)]
