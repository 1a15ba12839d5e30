"""Which model files ``ecgedge bench`` measures: files, folders of them and shipped names."""

from __future__ import annotations

import os
from pathlib import Path

from ...errors import EcgedgeError
from ...kinds import suffixes


def collect_models(items: list[str] | None) -> list:
    """Model files, folders of them (recursive) and shipped names -> ArtifactInfo list (default: the
    shipped models)."""
    from ...artifact import read_info
    from ...zoo import resolve, shipped

    if not items:
        items = [m["path"] for m in shipped().values()]
        if not items:
            raise EcgedgeError("no shipped models in this installation and no models given",
                               where="ecgedge bench", fix="give model files or folders of exported models")
    paths: list[str] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(str(f) for f in p.rglob("*") if f.suffix.lower() in suffixes() and f.is_file())
            if not found:
                raise EcgedgeError(f"folder holds no exported models ({', '.join(suffixes())})", path=item,
                                   fix="export a checkpoint first: ecgedge export CKPT --int8")
            paths += found
        else:
            paths.append(resolve(item))
    infos, seen = [], set()
    for path in paths:
        real = os.path.realpath(path)
        if real in seen:
            continue
        seen.add(real)
        info = read_info(path)
        if info.kind == "checkpoint":
            raise EcgedgeError("is a training checkpoint; bench measures exported models", path=path,
                               fix=f"export it first: ecgedge export {path} --int8 --fp16")
        infos.append(info)
    return infos
