"""``ecgedge export``: a checkpoint in, checked artefacts out.

Every artefact is built in a staging folder and moved into place only when all of them passed their
checks, so a failed export leaves nothing half-written (and never touches existing files unless
``force``). The report (``export_report.json``) records each artefact's size, its parity or accuracy
check, and how it was made.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import __version__
from ..atomic import atomic_write_text
from ..errors import EcgedgeError
from ..kinds import EXPORTED, artefact_name, sidecar_name
from ..store import sha256_file
from .quantize import QuantOptions

#: What ``--target`` builds: every kind of exported model.
TARGETS = EXPORTED


@dataclass
class ExportOptions:
    targets: list[str] = field(default_factory=lambda: ["onnx"])
    int8: bool = False
    fp16: bool = False
    quant: QuantOptions = field(default_factory=QuantOptions)
    #: Largest acceptable drop of validation macro AUROC from FP32 to INT8 (and FP16).
    max_drop: float = 0.005
    allow_drop: bool = False
    #: "auto": search for the fewest layers to keep in float when the gate fails; "": fail and suggest.
    keep_float: str = ""
    calib: str = ""
    parity_tol: float = 1e-4
    trt_batch: tuple[int, int, int] = (1, 8, 64)
    trt_time: tuple[int, int, int] | None = None  # default: (min_length, window, 8 * window)
    trt_workspace_mb: int = 1024
    pt2_device: str = "cpu"
    out: str = ""
    force: bool = False
    threads: int = 0
    name: str = ""

    def validate(self) -> ExportOptions:
        bad = [t for t in self.targets if t not in TARGETS]
        if bad:
            raise EcgedgeError(f"unknown target(s) {', '.join(bad)}", where="targets",
                               fix="one of " + ", ".join(TARGETS))
        if not 0 <= self.max_drop <= 1:
            raise EcgedgeError(f"max_drop must be in [0, 1], not {self.max_drop}", where="gate.max_drop")
        if "tensorrt" in self.targets and not (self.int8 or self.fp16):
            self.fp16 = True  # a TensorRT engine is built from the FP16 or the Q/DQ INT8 ONNX; FP32 engines on request
        if self.pt2_device not in ("cpu", "cuda"):
            raise EcgedgeError(f"pt2 device must be cpu or cuda, not {self.pt2_device!r}", where="pt2.device")
        return self


def load_profile(path: str | os.PathLike[str]) -> dict:
    """A profile TOML (``export/NAME.toml`` or just ``NAME``) as a dict of option overrides."""
    from ..builtin import builtin_names, find_builtin

    p = Path(path)
    if not p.exists():
        p = find_builtin("export", p.name if p.parent.name in ("export", "") else "") or p
    if not p.exists():
        names = builtin_names("export")
        raise EcgedgeError("export profile not found", path=path,
                           fix="built-in profiles: " + (", ".join(names) or "(none installed)"))
    try:
        d = tomllib.loads(p.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise EcgedgeError(f"not valid TOML ({exc})", path=p) from None
    return {"__path__": str(p), **d}


def options_from(profile: dict | None, **flags) -> ExportOptions:
    """Profile values, then flags that were given (not None) on top."""
    o = ExportOptions()
    q = dataclasses.asdict(o.quant)
    profile = dict(profile or {})
    where = profile.pop("__path__", "profile")
    for key, value in profile.items():
        if key == "int8" and isinstance(value, dict):
            for k, v in value.items():
                if k == "enabled":
                    o.int8 = bool(v)
                elif k in q:
                    q[k] = v
                else:
                    raise EcgedgeError(f"unknown key int8.{k}", path=where, fix="valid: enabled, " + ", ".join(q))
        elif key == "gate" and isinstance(value, dict):
            for k, v in value.items():
                if k not in ("max_drop", "allow_drop", "keep_float"):
                    raise EcgedgeError(f"unknown key gate.{k}", path=where,
                                       fix="valid: max_drop, allow_drop, keep_float")
                if k == "keep_float":
                    _keep_float(o, q, v)
                else:
                    setattr(o, k, v)
        elif key == "tensorrt" and isinstance(value, dict):
            for k, v in value.items():
                if k not in ("batch", "time", "workspace_mb"):
                    raise EcgedgeError(f"unknown key tensorrt.{k}", path=where, fix="valid: batch, time, workspace_mb")
                setattr(o, f"trt_{k}", tuple(v) if isinstance(v, list) else v)
        elif key == "pt2" and isinstance(value, dict):
            for k, v in value.items():
                if k != "device":
                    raise EcgedgeError(f"unknown key pt2.{k}", path=where, fix="valid: device")
                o.pt2_device = v
        elif key in ("targets", "int8", "fp16", "description"):
            if key == "targets":
                o.targets = list(value)
            elif key != "description":
                setattr(o, key, bool(value))
        else:
            raise EcgedgeError(f"unknown profile key {key!r}", path=where,
                               fix="valid: description, targets, int8, fp16, [int8], [gate], [tensorrt], [pt2]")
    for k, v in flags.items():
        if v is None:
            continue
        if k == "keep_float":
            _keep_float(o, q, v)
        elif k in q:
            q[k] = v
        else:
            setattr(o, k, v)
    o.quant = QuantOptions(**q)
    return o.validate()


def _keep_float(o: ExportOptions, q: dict, value) -> None:
    """``keep_float``: "auto" (search when the gate fails) or node names (a list or a comma-separated string)."""
    if value == "auto":
        o.keep_float = "auto"
    else:  # QuantOptions splits a comma-separated string
        q["keep_float"] = value if isinstance(value, str) else [str(n) for n in value]


class _Staging:
    """Artefacts are written here first and moved into ``out`` together at the end."""

    def __init__(self, out: Path, force: bool) -> None:
        self.out, self.force = out, force
        self.dir = out.parent / f".{out.name}.staging-{os.getpid()}"
        self.files: list[str] = []

    def __enter__(self) -> _Staging:
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        return self

    def path(self, name: str) -> str:
        self.files.append(name)
        return str(self.dir / name)

    def check(self, names: list[str]) -> None:
        clash = [n for n in names if (self.out / n).exists()]
        if clash and not self.force:
            raise EcgedgeError(f"{', '.join(clash)} already exist(s)", path=self.out,
                               fix="pass --force to replace them, or --out another folder")

    def commit(self) -> list[str]:
        self.out.mkdir(parents=True, exist_ok=True)
        done = []
        for name in self.files:
            src = self.dir / name
            if src.exists():
                with open(src, "rb+") as fh:
                    os.fsync(fh.fileno())
                os.replace(src, self.out / name)
                done.append(str(self.out / name))
        return done

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def _eval(sess, val, contract, batch: int = 256) -> np.ndarray:
    from ..runtime.ort import run_batched

    return val.per_record(run_batched(sess, val.x, batch), contract)


def _gate_row(name, y, p_ref, p_new, classes) -> dict:
    from .quantize import macro_drop

    a, b, pa, pb = macro_drop(y, p_ref, p_new)
    return {"artefact": name, "macro_auroc_fp32": a, "macro_auroc": b, "drop": a - b,
            "per_class": {c: {"fp32": x, "this": z, "drop": x - z} for c, x, z in zip(classes, pa, pb)}}


def run_export(ckpt_path: str | os.PathLike[str], opts: ExportOptions, log=print) -> dict:
    """Export a checkpoint as the options say; returns the report (also written as export_report.json)."""
    import torch

    from ..runtime.ort import session
    from ..training.checkpoint import load_checkpoint
    from . import onnx_export as E
    from . import quantize as Q
    from .windows import folder_windows, training_data

    t_start = time.perf_counter()
    opts.validate()
    ck = load_checkpoint(ckpt_path)
    contract = ck.contract
    name = opts.name or ck.arch
    out = Path(opts.out or Path(ckpt_path).resolve().parent / "export")
    if opts.threads:
        torch.set_num_threads(opts.threads)

    int8_flavours = ([opts.quant.flavour] + (["tensorrt"] if "tensorrt" in opts.targets
                                               and opts.quant.flavour == "cpu" else [])) if opts.int8 else []
    engine_precisions = (["int8"] if opts.int8 else []) + (["fp16"] if opts.fp16 else [])
    names = [artefact_name(name, "onnx")]
    names += [artefact_name(name, "onnx", "int8", flavour=f) for f in int8_flavours]
    if opts.fp16:
        names.append(artefact_name(name, "onnx", "fp16"))
    if "tensorrt" in opts.targets:
        engines = [artefact_name(name, "tensorrt", p) for p in engine_precisions]
        names += engines + [sidecar_name(n) for n in engines]
    if "pt2" in opts.targets:
        pt2_name = artefact_name(name, "pt2", device=opts.pt2_device)
        names += [pt2_name, sidecar_name(pt2_name)]
    names.append("export_report.json")

    with _Staging(out, opts.force) as stage:
        stage.check(names)
        model = ck.build_model()
        n_params = sum(p.numel() for p in model.parameters())
        need_val = opts.int8 or opts.fp16
        if opts.calib:
            calib = (folder_windows(opts.calib, contract, calib_size=opts.quant.calib_size, log=log)
                     if opts.int8 else None)
            try:
                _, val = training_data(ck.meta, contract, calib_size=8, need_val=need_val, log=lambda *_: None)
            except EcgedgeError:
                if need_val:
                    raise
                val = None
        else:
            calib, val = training_data(ck.meta, contract, calib_size=opts.quant.calib_size, need_val=need_val,
                                       log=log)
        check_x = val.x[:256] if val is not None else calib[:256] if calib is not None else None
        if check_x is None:
            from ..dsp import Preprocessor
            from ..simulate import simulated_ecg

            check_x = Preprocessor(contract.preprocessing)(simulated_ecg()).x
        base_meta = {
            "contract": contract.to_dict(), "arch": ck.arch, "arch_kwargs": ck.meta.get("arch_kwargs") or {},
            "ecgedge_version": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "n_parameters": n_params, "recipe_name": Path(str(ck.meta.get("recipe", {}).get("path", ""))).stem,
            "source": {"checkpoint": os.path.basename(os.fspath(ckpt_path)), "sha256": sha256_file(ckpt_path),
                       "store_key": ck.meta.get("store_key", ""), "epoch": ck.meta.get("epoch")},
            "metrics": ck.meta.get("metrics", {}), "opset": E.OPSET,
        }
        report: dict = {"checkpoint": os.fspath(ckpt_path), "arch": ck.arch, "n_parameters": n_params,
                        "out": str(out), "artefacts": {}, "gate": []}

        # ---- FP32
        t0 = time.perf_counter()
        fp32 = E.export_fp32(model, check_x, ck.arch)
        s32 = session(fp32, threads=opts.threads or None)
        dmax = E.parity(s32, E.torch_runner(model), check_x)
        log(f"FP32 ONNX: exported in {time.perf_counter() - t0:.1f} s; max |logit difference| vs PyTorch "
            f"{dmax:.2e} on {len(check_x)} real windows (limit {opts.parity_tol:g})")
        if not dmax <= opts.parity_tol:
            raise EcgedgeError(f"FP32 ONNX differs from PyTorch by {dmax:.3g} (limit {opts.parity_tol:g})",
                               where="parity", fix="report this architecture; it does not export faithfully")
        meta32 = {**base_meta, "precision": "fp32", "parity_max_abs_logit": dmax}
        p_ref = None
        if val is not None:
            p_ref = _eval(s32, val, contract)
            from ..metrics import macro_auroc

            a32 = macro_auroc(val.y, p_ref)
            meta32["validation"] = {"macro_auroc": a32, "set": val.description}
            log(f"FP32 on the {val.description}: macro AUROC {a32:.4f}")
        fp32 = E.set_metadata(fp32, meta32)
        fname = artefact_name(name, "onnx")
        Path(stage.path(fname)).write_bytes(fp32)
        report["artefacts"][fname] = {"precision": "fp32", "bytes": len(fp32), "parity": dmax,
                                                     **({"validation": meta32["validation"]} if val else {})}

        # ---- INT8
        with Q.workdir() as wd:
            pre = Q.preprocess(fp32, wd) if int8_flavours else None
            for flavour in int8_flavours:
                qo = dataclasses.replace(opts.quant, flavour=flavour)
                fname = artefact_name(name, "onnx", "int8", flavour=flavour)
                t0 = time.perf_counter()
                keep = list(qo.keep_float)
                int8 = Q.quantize(pre, calib, qo, wd, keep)
                s8 = session(int8, threads=opts.threads or None)
                row = _gate_row(fname, val.y, p_ref, _eval(s8, val, contract), contract.classes)
                log(f"INT8 ({flavour}, {qo.method}, {'per-channel' if qo.per_channel else 'per-tensor'}): "
                    f"validation macro AUROC {row['macro_auroc']:.4f} vs FP32 {row['macro_auroc_fp32']:.4f}, "
                    f"drop {row['drop']:+.4f} (limit {opts.max_drop}) [{time.perf_counter() - t0:.1f} s]")
                if row["drop"] > opts.max_drop and not opts.allow_drop:
                    found = _search_float(pre, int8, calib, qo, wd, val, contract, p_ref, opts, keep, log)
                    if found is None:
                        raise EcgedgeError(
                            f"INT8 loses {row['drop']:.4f} validation macro AUROC (limit {opts.max_drop}), and keeping "
                            "up to half of the quantized layers in float did not fix it", where="gate",
                            fix="try --calib-method percentile or entropy, more calibration windows (--calib-size), "
                                "or accept the drop with --allow-drop")
                    keep_new, row_new, int8_new = found
                    if opts.keep_float != "auto":
                        raise EcgedgeError(
                            f"INT8 loses {row['drop']:.4f} validation macro AUROC (limit {opts.max_drop}); keeping "
                            f"{len(keep_new)} layer(s) in float brings the drop to {row_new['drop']:+.4f}",
                            where="gate", fix="rerun with --keep-float auto (or --keep-float "
                                              f"{','.join(keep_new)}), or accept the drop with --allow-drop")
                    int8, row, keep = int8_new, row_new, keep_new
                    log(f"  kept {len(keep)} layer(s) in float: drop now {row['drop']:+.4f}")
                row["kept_float"] = keep
                report["gate"].append(row)
                meta8 = {**base_meta, "precision": "int8", "flavour": flavour, "kept_float": keep,
                         "calibration": {"method": qo.method, "windows": len(calib), "per_channel": qo.per_channel,
                                         "reduce_range": qo.reduce_range,
                                         "source": opts.calib or "training split of the recipe's data"},
                         "gate": {k: row[k] for k in ("macro_auroc_fp32", "macro_auroc", "drop")} | {
                             "max_drop": opts.max_drop, "set": val.description}}
                int8 = E.set_metadata(int8, meta8)
                Path(stage.path(fname)).write_bytes(int8)
                report["artefacts"][fname] = {"precision": "int8", "flavour": flavour, "bytes": len(int8),
                                              "gate": meta8["gate"], "kept_float": keep}

        # ---- FP16
        if opts.fp16:
            fp16 = E.to_fp16(fp32)
            s16 = session(fp16, threads=opts.threads or None)
            fname = artefact_name(name, "onnx", "fp16")
            row = _gate_row(fname, val.y, p_ref, _eval(s16, val, contract), contract.classes)
            log(f"FP16 ONNX: validation macro AUROC {row['macro_auroc']:.4f}, drop {row['drop']:+.4f} "
                "(evaluated with onnxruntime on this CPU)")
            if row["drop"] > opts.max_drop and not opts.allow_drop:
                raise EcgedgeError(f"FP16 loses {row['drop']:.4f} validation macro AUROC (limit {opts.max_drop})",
                                   where="gate", fix="use FP32 or INT8 for this model, or --allow-drop")
            report["gate"].append(row)
            meta16 = {**base_meta, "precision": "fp16",
                      "gate": {k: row[k] for k in ("macro_auroc_fp32", "macro_auroc", "drop")}}
            fp16 = E.set_metadata(fp16, meta16)
            Path(stage.path(fname)).write_bytes(fp16)
            report["artefacts"][fname] = {"precision": "fp16", "bytes": len(fp16), "gate": meta16["gate"]}

        # ---- TensorRT engines (from the staged ONNX files)
        if "tensorrt" in opts.targets:
            from .tensorrt import build_engine

            t_rng = opts.trt_time or (model.min_length, contract.window, 8 * contract.window)
            for prec in engine_precisions:
                src = stage.dir / artefact_name(name, "onnx", prec, flavour="tensorrt")
                ename = artefact_name(name, "tensorrt", prec)
                eng = stage.path(ename)
                stage.files.append(sidecar_name(ename))
                info = build_engine(str(src), eng, precision=prec, batch=tuple(opts.trt_batch), time=tuple(t_rng),
                                    workspace_mb=opts.trt_workspace_mb, contract_json=contract.to_json(), force=True)
                report["artefacts"][ename] = {"precision": prec, **(info or {})}
                log(f"TensorRT {prec} engine built")

        # ---- AOTInductor package
        if "pt2" in opts.targets:
            from .pt2 import export_pt2

            t0 = time.perf_counter()
            pname = artefact_name(name, "pt2", device=opts.pt2_device)
            pt2 = stage.path(pname)
            stage.files.append(sidecar_name(pname))
            info = export_pt2(model, torch.from_numpy(np.ascontiguousarray(check_x[:2])), pt2, device=opts.pt2_device,
                              contract_json=contract.to_json(), force=True)
            report["artefacts"][pname] = {"precision": "fp32", **(info or {})}
            log(f"AOTInductor package ({opts.pt2_device}) compiled in {time.perf_counter() - t0:.1f} s")

        report["seconds"] = round(time.perf_counter() - t_start, 1)
        report["created"] = base_meta["created"]
        atomic_write_text(stage.path("export_report.json"), json.dumps(report, indent=1, default=float))
        written = stage.commit()
    for f in written:
        if not f.endswith((".json",)):
            log(f"wrote {f} ({os.path.getsize(f) / 1e6:.2f} MB)")
    log(f"report: {out / 'export_report.json'}")
    return report


def _search_float(pre, int8, calib, qo, wd, val, contract, p_ref, opts, keep, log):
    """Keep the most quantization-sensitive tensors' layers in float, doubling their number, until the gate
    passes. Returns (nodes kept in float, gate row, model bytes) or None."""
    from ..runtime.ort import session
    from . import quantize as Q

    ranked = Q.sensitivity(pre, int8, calib, wd)
    if not ranked:
        return None
    log(f"  searching for layers to keep in float (worst SQNR: {ranked[0][0]} {ranked[0][1]:.1f} dB)")
    k = 1
    while k <= max(1, len(ranked) // 2):
        nodes = list(dict.fromkeys(keep + [n for _, _, ns in ranked[:k] for n in ns]))
        model = Q.quantize(pre, calib, qo, wd, nodes)
        row = _gate_row("int8", val.y, p_ref, _eval(session(model, threads=opts.threads or None), val, contract),
                        contract.classes)
        log(f"  {k} tensor(s) ({len(nodes)} layer(s)) in float: drop {row['drop']:+.4f}")
        if row["drop"] <= opts.max_drop:
            return nodes, row, model
        k *= 2
    return None
