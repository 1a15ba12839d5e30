"""``ecgedge train``: a recipe in, an honestly measured checkpoint out. Read it top to bottom.

Model selection uses the validation fold only; the test fold is evaluated once, at the end, with
the selected weights and the thresholds tuned on validation. Every epoch writes the model and the
training state atomically, and each epoch's randomness derives from (seed, epoch) alone, so
``--resume`` after a crash continues exactly where an uninterrupted run would be.
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..atomic import atomic_write_text
from ..contract import InputContract
from ..errors import EcgedgeError
from ..metrics import evaluate, macro_auroc, tune_decision_weights, tune_thresholds
from .augment import augment
from .checkpoint import load_checkpoint, load_train_state, save_checkpoint, save_train_state
from .data import aggregate, crop_batch, heldout_extra, labels, make_split, open_store
from .losses import make_loss
from .models import build_model
from .recipe import Recipe


@dataclass
class TrainResult:
    out: Path
    checkpoint: Path
    metrics: dict
    best_epoch: int


def lr_at(step: int, total: int, base: float, schedule: str, warmup: float) -> float:
    """One-cycle (linear warm-up from base/25, cosine down to base/1e4) or plain cosine."""
    if schedule == "cosine":
        return base * 0.5 * (1 + math.cos(math.pi * step / max(total, 1)))
    w = max(1, int(warmup * total))
    if step < w:
        return base / 25 + (base - base / 25) * step / w
    q = (step - w) / max(1, total - w)
    return base / 1e4 + (base - base / 1e4) * 0.5 * (1 + math.cos(math.pi * q))


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise EcgedgeError("CUDA was asked for but is not available", where="--device", fix="use --device cpu")
    return torch.device(name)


def _dist() -> tuple[int, int]:
    """(rank, world size) under torchrun, else (0, 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend)
    return (torch.distributed.get_rank(), world) if world > 1 else (0, 1)


def predict(model, store, idx, contract, device, batch=None) -> np.ndarray:
    """Record-level probabilities: every window the contract cuts (as inference cuts them) through the model,
    aggregated per record as the contract says. Batches of 64 on a CPU (256 long windows at once ran at half the
    speed there: the activations leave the cache), 256 else."""
    from ..runtime.evalset import store_windows

    batch = batch or (64 if torch.device(device).type == "cpu" else 256)
    X, owner = store_windows(store, idx, contract.preprocessing)
    out = []
    model.eval()
    with torch.no_grad():
        for s in range(0, len(X), batch):
            logits = model(torch.from_numpy(X[s:s + batch]).to(device)).float()
            out.append((torch.sigmoid(logits) if contract.multilabel else torch.softmax(logits, 1)).cpu().numpy())
    return aggregate(np.concatenate(out), owner, len(idx), contract.aggregate)


def _layer_mismatch(ck, arch: str) -> str:
    """Which of the checkpoint's layers the recipe's architecture cannot take, in a few words."""
    c = ck.contract
    try:
        want = build_model(arch, leads=len(c.leads), classes=len(c.classes), fs=c.fs, window=c.window).state_dict()
    except EcgedgeError as exc:
        return f"({exc.message})"
    have = {k: tuple(v.shape) for k, v in ck.state.items()}
    shape = [f"{k} {list(have[k])} vs {list(v.shape)}" for k, v in want.items()
             if k in have and have[k] != tuple(v.shape)]
    missing = [k for k in want if k not in have]
    fits = len(want) - len(shape) - len(missing)
    parts = [f"of a {arch}'s {len(want)} tensors, {fits} fit"]
    if shape:
        parts.append(f"{len(shape)} differ in shape (e.g. {'; '.join(shape[:2])})")
    if missing:
        parts.append(f"{len(missing)} are absent from the checkpoint (e.g. {', '.join(missing[:3])})")
    return ", ".join(parts)


def _transfer(model_arch: str, r: Recipe, leads: int, classes: int, fs: float, log, class_names=()):
    """A model initialised from a pretrained checkpoint: new head, first layer adapted to the leads."""
    ck = load_checkpoint(r.transfer.init)
    if ck.arch == "ensemble":
        members = ", ".join(m.get("checkpoint", "?") for m in (ck.meta.get("metrics") or {}).get("members", []))
        raise EcgedgeError("--init checkpoint is an ensemble; fine-tune one of its members", path=r.transfer.init,
                           where="transfer.init", fix=f"pass a member's checkpoint ({members or 'see its metrics'})")
    if ck.arch != model_arch:
        raise EcgedgeError(f"--init checkpoint is a {ck.arch}, the recipe builds a {model_arch}: "
                           + _layer_mismatch(ck, model_arch),
                           path=r.transfer.init, where="model.arch", fix=f"set model.arch={ck.arch}")
    model = ck.build_model()
    if len(ck.contract.leads) != leads:
        model.adapt_input(leads, mode=r.transfer.lead_adapt)
        log(f"first layer adapted from {len(ck.contract.leads)} to {leads} lead(s) ({r.transfer.lead_adapt})")
    if r.transfer.head == "keep":
        if tuple(ck.contract.classes) != tuple(class_names) or len(ck.contract.leads) != leads:
            raise EcgedgeError(
                f"transfer.head = \"keep\" needs the checkpoint's classes and leads: it predicts "
                f"{', '.join(ck.contract.classes)} from {len(ck.contract.leads)} lead(s), the recipe "
                f"{', '.join(class_names)} from {leads}", path=r.transfer.init, where="transfer.head",
                fix='use transfer.head = "reset" (a new head for these classes)')
        log(f"continuing {r.transfer.init}: its head kept ({len(class_names)} classes)")
    else:
        model.reset_head(classes)
    if ck.contract.fs != fs:
        log(f"note: pretrained at {ck.contract.fs:g} Hz, fine-tuning at {fs:g} Hz (inputs are resampled)")
    return model


def train(r: Recipe, out: str | os.PathLike[str], *, resume: bool = False, device: str | None = None,
          log=print) -> TrainResult:
    out = Path(out)
    rank, world = _dist()
    main = rank == 0
    dev = _device(device or r.train.device)
    if r.train.threads:
        torch.set_num_threads(r.train.threads)
    torch.manual_seed(r.seed)

    if r.model.arch == "ensemble":
        raise EcgedgeError("an ensemble is not trained as one", path=r.path or None, where="model.arch",
                           fix="train its members, then `ecgedge ensemble RUN RUN ... --out DIR`")
    # -- data ------------------------------------------------------------------------------------
    store = open_store(r)
    y, classes, multilabel = labels(store, r)
    if r.train.loss == "ce":
        multilabel = False
    split = make_split(store, r, y)
    fs = store.fs
    window = int(round(r.preprocessing.window * fs))
    stride = max(1, int(round(r.preprocessing.stride * fs)))
    leads = len(store.leads)
    no_pos = [c for j, c in enumerate(classes) if not y[split.val, j].any()]
    if no_pos and len(split.val):
        log(f"warning: no positives in validation for {', '.join(no_pos)}: their AUROC is undefined and "
            "excluded from model selection")
    if main:
        log(f"{r.name}: {len(store)} records at {fs:g} Hz ({store.manifest['dataset']}), {len(classes)} classes; "
            f"{split.description}: {len(split.train)}/{len(split.val)}/{len(split.test)}")

    # -- model -----------------------------------------------------------------------------------
    arch_kwargs = dict(r.model.kwargs)
    if r.transfer.init:
        model = _transfer(r.model.arch, r, leads, len(classes), fs, log, tuple(str(c) for c in classes))
    else:
        model = build_model(r.model.arch, leads=leads, classes=len(classes), fs=fs, window=window, **arch_kwargs)
    model.to(dev)
    # the weights' moving average: what is validated, selected and shipped when train.ema > 0
    ema = copy.deepcopy(model).eval().requires_grad_(False) if r.train.ema else None
    groups = model.layer_groups()
    G = len(groups)
    f = r.transfer.discriminative_lr
    param_groups = [{"params": g, "lr_scale": f ** (G - 1 - i)} for i, g in enumerate(groups)]
    opt = torch.optim.AdamW(param_groups, lr=r.train.lr, weight_decay=r.train.weight_decay)
    net = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(model)
    loss_fn = make_loss(r.train.loss, y[split.train], r.train.pos_weight, r.train.focal_alpha, r.train.focal_gamma,
                        dev)
    contract = InputContract(
        classes=tuple(classes),
        preprocessing=Preprocessing_with_window(store, window, stride),
        aggregate=r.preprocessing.aggregate, multilabel=multilabel, dataset=store.manifest["dataset"],
        task=r.data.one_vs_rest and f"{r.data.one_vs_rest} vs rest" or store.manifest["task"],
        extra={"heldout": heldout_extra(store, r, split)},
    )

    # -- state: fresh or resumed -----------------------------------------------------------------
    out.mkdir(parents=True, exist_ok=True)
    soft = None  # the teachers' probabilities per store record, when distilling
    if r.distill.teacher:
        from .distill import DistillLoss, teacher_probabilities

        rows = np.concatenate([split.train, split.val]).astype(np.int64)
        p_t = teacher_probabilities(list(r.distill.teacher), store, rows, classes, contract, dev, out,
                                    log if main else (lambda *_: None))
        soft = np.zeros((len(store), len(classes)), np.float32)
        soft[rows] = p_t
        loss_fn = DistillLoss(loss_fn, r.distill.alpha, r.distill.temperature, multilabel)
        if main:
            shown = ""
            if len(split.val):
                shown = f"; the teachers' validation macro AUROC {macro_auroc(y[split.val], soft[split.val]):.4f}"
            log(f"distilling from {len(r.distill.teacher)} teacher(s), alpha {r.distill.alpha:g}, "
                f"temperature {r.distill.temperature:g}{shown}")
    state_path, best_path = out / "train_state.safetensors", out / "best.safetensors"
    start_epoch, history, best = 0, [], {"auroc": -1.0, "epoch": -1}
    if resume and state_path.exists():
        meta = load_train_state(state_path, model, opt, ema)
        start_epoch, history, best = meta["epoch"] + 1, meta["history"], meta["best"]
        if main:
            log(f"resumed after epoch {meta['epoch'] + 1} "
                f"(best so far: {best['auroc']:.4f} at epoch {best['epoch'] + 1})")
    elif resume and main:
        log("nothing to resume: starting from epoch 1"
            + (f" (weights from {r.transfer.init})" if r.transfer.init else ""))

    per_epoch = max(len(split.train), r.train.min_samples_per_epoch)
    steps_per_epoch = max(1, math.ceil(per_epoch / (r.train.batch_size * world)))
    # passes over the training records per epoch (one unless min_samples_per_epoch asks for more)
    passes = 1 if per_epoch == len(split.train) else math.ceil(steps_per_epoch * r.train.batch_size * world
                                                                / max(1, len(split.train)))
    total = steps_per_epoch * r.train.epochs
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if dev.type == "cuda" else _Null()
    ckw = {"arch": r.model.arch, "arch_kwargs": arch_kwargs, "recipe": r.to_dict(),
           "store_key": store.manifest["key"]}

    # -- epochs ----------------------------------------------------------------------------------
    t_run = time.perf_counter()
    for epoch in range(start_epoch, r.train.epochs):
        t0 = time.perf_counter()
        torch.manual_seed(r.seed * 100003 + epoch)  # dropout etc.: a function of the epoch alone
        rng = np.random.default_rng([r.seed, epoch])
        _freeze(groups, r, epoch)
        net.train()
        order = np.concatenate([rng.permutation(split.train) for _ in range(passes)])
        mine = order[rank::world]
        losses = []
        progress = _Progress(epoch, r.train.epochs, steps_per_epoch, t_run, epochs_done=epoch - start_epoch,
                             log=log if main else None)
        for b, idx, X in _batches(store, mine, r, steps_per_epoch, window, fs, rng):
            step = epoch * steps_per_epoch + b
            lr = lr_at(step, total, r.train.lr, r.train.schedule, r.train.warmup)
            for g in opt.param_groups:
                g["lr"] = lr * g["lr_scale"]
            with autocast:
                logits = net(torch.from_numpy(X).to(dev))
                target = torch.from_numpy(y[idx]).to(dev)
                loss = (loss_fn(logits.float(), target) if soft is None else
                        loss_fn(logits.float(), target, torch.from_numpy(soft[idx]).to(dev)))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if r.train.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), r.train.grad_clip)
            opt.step()
            if ema is not None:
                _ema_update(ema, model, r.train.ema, step)
            losses.append(float(loss.detach()))
            progress.step(b, len(idx))
        if world > 1:
            torch.distributed.barrier()
        stop = False
        if main:
            stop = _end_of_epoch(model, ema, opt, store, split, y, r, epoch, losses, lr, t0, history, best, out,
                                 state_path, best_path, contract, ckw, dev, log)
        if world > 1:  # every rank learns whether rank 0 stopped early, or the others would wait forever
            flag = torch.tensor([int(stop)])
            torch.distributed.broadcast(flag, 0)
            stop = bool(flag.item())
        if stop:
            break

    if not main:
        torch.distributed.barrier()
        return TrainResult(out, out / "model.safetensors", {}, best["epoch"])

    # -- the selected model: thresholds on validation, then the test fold, once --------------------
    model.load_state_dict(load_checkpoint(best_path).state)
    kept: dict = {}
    weights = (tuple(r.train.decision_weights) or None) if not multilabel else None
    if len(split.val):
        pv = predict(model, store, split.val, contract, dev)
        thresholds = tune_thresholds(y[split.val], pv, method="f1")
        kept["validation"] = (split.val, y[split.val], pv)
        if not multilabel:  # one class per record: the rule that picks it, tuned on validation for the task's score
            weights = tuple(float(w) for w in tune_decision_weights(y[split.val], pv, classes))
        validation = evaluate(y[split.val], pv, classes, thresholds=thresholds, bootstrap=0,
                              single_label=None if multilabel else True, decision_weights=weights)
    else:  # nothing held out: 0.5 per class, and the given decision weights (train.decision_weights), if any
        thresholds = np.full(len(classes), 0.5)
        validation = {"records": 0, "macro_auroc": None, "note": split.description}
    report = {
        "recipe": r.name, "split": split.description, "best_epoch": best["epoch"] + 1,
        "validation": validation,
        "test": test_report(model, store, split, y, classes, thresholds, r.train.bootstrap, r.seed, contract, dev,
                            keep=kept, decision_weights=weights),
        "n_parameters": sum(p.numel() for p in model.parameters()), "history": history,
    }
    final = InputContract(**{**contract.__dict__, "thresholds": tuple(float(t) for t in thresholds),
                             "decision_weights": weights})
    save_checkpoint(out / "model.safetensors", model, contract=final, epoch=best["epoch"],
                    metrics={"val_macro_auroc": report["validation"]["macro_auroc"],
                             "test_macro_auroc": report["test"]["macro_auroc"],
                             "test_macro_auroc_ci": report["test"].get("macro_auroc_ci")}, **ckw)
    atomic_write_text(out / "metrics.json", json.dumps(report, indent=1, default=_json))
    save_predictions(out / "predictions.npz", store, classes, kept)
    _plot(history, out / "training_curve.png")
    log(test_line(report["test"], len(split.test)) + f"; checkpoint {out / 'model.safetensors'}")
    if world > 1:
        torch.distributed.barrier()
    return TrainResult(out, out / "model.safetensors", report, best["epoch"])


def save_predictions(path: Path, store, classes, parts: dict) -> None:
    """Per-record probabilities of the selected model, ``{part}_records`` / ``{part}_labels`` /
    ``{part}_probs`` for each part (validation, test): paired comparisons and decision rules without
    rerunning the model. Plain arrays (``np.load(allow_pickle=False)`` reads them)."""
    arrays = {"classes": np.asarray([str(c) for c in classes])}
    for part, (idx, labels_, probs) in parts.items():
        arrays[f"{part}_records"] = np.asarray([store.names[i] for i in idx])
        arrays[f"{part}_labels"] = np.asarray(labels_, dtype=np.float32)
        arrays[f"{part}_probs"] = np.asarray(probs, dtype=np.float32)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    os.replace(tmp, path)


def test_report(model, store, split, y, classes, thresholds, bootstrap, seed, contract, dev,
                keep: dict | None = None, decision_weights=None) -> dict:
    """The test fold, once, with the validation thresholds; ``macro_auroc`` None when the split has no test
    records (the whole of PTB-XL as assembled here holds fold 10 out: it is scored elsewhere)."""
    if len(split.test) == 0:
        return {"records": 0, "macro_auroc": None, "macro_auroc_ci": None,
                "note": "no test records on disk: " + split.description}
    pt = predict(model, store, split.test, contract, dev)
    if keep is not None:
        keep["test"] = (split.test, y[split.test], pt)
    return evaluate(y[split.test], pt, classes, thresholds=thresholds, bootstrap=bootstrap, seed=seed,
                    single_label=None if contract.multilabel else True, decision_weights=decision_weights)


def test_line(t: dict, n: int) -> str:
    if t.get("macro_auroc") is None:
        return "test: none" + (f" ({t['note']})" if t.get("note") else "")
    ci = t.get("macro_auroc_ci") or [float("nan")] * 2
    f1 = f"; challenge F1 (mean of N, A, O) {t['challenge_f1']:.4f}" if t.get("challenge_f1") is not None else ""
    return (f"test (fold(s) never used for any choice, {n} records): macro AUROC "
            f"{t['macro_auroc']:.4f} [95% CI {ci[0]:.3f}-{ci[1]:.3f}]{f1}")


def _batches(store, order: np.ndarray, r: Recipe, steps: int, window: int, fs: float, rng: np.random.Generator):
    """``(step, record indices, windows)`` for each training step, cropped and augmented one batch ahead on a
    worker thread while the model trains on the current one (numpy releases the GIL for most of it).
    Only the worker touches ``rng``, in step order, so the batches are those of a serial loop: ``--resume``
    stays bit-identical."""
    import queue
    import threading

    q: queue.Queue = queue.Queue(maxsize=2)
    stop = threading.Event()

    def produce() -> None:
        try:
            for b in range(steps):
                idx = order[b * r.train.batch_size:(b + 1) * r.train.batch_size]
                if len(idx) == 0 or stop.is_set():
                    break
                X = crop_batch(store, idx, window, rng)
                if r.train.augment:
                    X = augment(X, r.train.augment, rng, fs, r.train.augment_p)
                while not stop.is_set():
                    try:
                        q.put((b, idx, X), timeout=0.2)
                        break
                    except queue.Full:
                        continue
        except BaseException as exc:  # noqa: BLE001 - handed to the training thread, raised there
            q.put(exc)
            return
        q.put(None)

    worker = threading.Thread(target=produce, name="ecgedge-batches", daemon=True)
    worker.start()
    try:
        while (item := q.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


class _Progress:
    """A line every minute inside a long epoch (step, windows/s, time left in the epoch and the run), so that
    a run of hours shows where it is; silent for epochs shorter than that."""

    every = 60.0

    def __init__(self, epoch: int, epochs: int, steps: int, t_run: float, epochs_done: int, log) -> None:
        self.epoch, self.epochs, self.steps, self.log = epoch, epochs, steps, log
        self.t0 = self.last = time.perf_counter()
        self.t_run, self.epochs_done, self.windows = t_run, epochs_done, 0

    def step(self, b: int, n: int) -> None:
        self.windows += n
        now = time.perf_counter()
        if self.log is None or now - self.last < self.every:
            return
        self.last = now
        rate = self.windows / (now - self.t0)
        left = (now - self.t0) / (b + 1) * (self.steps - b - 1)
        per_epoch = (now - self.t_run) / (self.epochs_done + (b + 1) / self.steps)
        run_left = left + per_epoch * (self.epochs - self.epoch - 1)
        self.log(f"  epoch {self.epoch + 1}/{self.epochs}: step {b + 1}/{self.steps}, {rate:.0f} training windows/s, "
                 f"epoch done in {_clock(left)}, run in {_clock(run_left)} (validation not counted)")


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float, step: int) -> None:
    """``ema <- d * ema + (1 - d) * model`` over every floating parameter and buffer (BatchNorm statistics
    too, so that the averaged weights meet matching statistics); integer buffers are copied. The decay ramps
    up over the first steps, ``min(decay, (1 + step) / (10 + step))``, so that the average does not
    remember the random initialisation."""
    d = min(decay, (1 + step) / (10 + step))
    with torch.no_grad():
        for a, m in zip(ema.state_dict().values(), model.state_dict().values()):
            if a.is_floating_point():
                a.mul_(d).add_(m.detach(), alpha=1 - d)
            else:
                a.copy_(m)


def _end_of_epoch(model, ema, opt, store, split, y, r, epoch, losses, lr, t0, history, best, out, state_path,
                  best_path, contract, ckw, dev, log) -> bool:
    """Rank 0 after each epoch: validate (the weights' average if kept), keep the best, write the state.
    True: stop early."""
    weights = ema if ema is not None else model
    t_train = time.perf_counter()
    windows = len(losses) * r.train.batch_size
    val_auc = None  # data.split = "all": nothing to select on, the last epoch is the model
    if len(split.val):
        val_auc = macro_auroc(y[split.val], predict(weights, store, split.val, contract, dev))
    t_val = time.perf_counter()
    row = {"epoch": epoch + 1, "loss": float(np.mean(losses)) if losses else float("nan"), "steps": len(losses),
           "val_macro_auroc": val_auc, "lr": lr, "seconds": round(t_val - t0, 2),
           "train_windows_per_s": round(windows / max(t_train - t0, 1e-9), 1),
           "validation_seconds": round(t_val - t_train, 2)}
    history.append(row)
    improved = val_auc is None or val_auc > best["auroc"]
    if improved:
        best.update(epoch=epoch, **({} if val_auc is None else {"auroc": val_auc}))
        save_checkpoint(best_path, weights, contract=contract, epoch=epoch, metrics={"val_macro_auroc": val_auc},
                        **ckw)
    save_train_state(state_path, model, opt, {"epoch": epoch, "history": history, "best": best}, ema)
    with open(out / "metrics.jsonl", "a") as fh:
        fh.write(json.dumps(row) + "\n")
    shown = "no validation (every record trains)" if val_auc is None else f"val macro AUROC {val_auc:.4f}"
    log(f"epoch {epoch + 1:>3}/{r.train.epochs}  loss {row['loss']:.4f}  {shown}"
        f"{'  *' if improved else ''}  ({row['seconds']:.1f} s, {row['train_windows_per_s']:.0f} training windows/s)")
    if r.train.patience and epoch - best["epoch"] >= r.train.patience:
        log(f"stopping: no better validation AUROC for {r.train.patience} epochs")
        return True
    return False


def Preprocessing_with_window(store, window: int, stride: int):  # noqa: N802 - reads as a constructor
    from ..dsp import Preprocessing

    p = Preprocessing.from_dict(store.manifest["preprocessing"])
    return Preprocessing(**{**p.__dict__, "window": window, "stride": stride})


def _freeze(groups, r: Recipe, epoch: int) -> None:
    if r.transfer.mode == "finetune" or not r.transfer.init:
        trainable = len(groups)
    elif r.transfer.mode == "linear":
        trainable = 1
    else:  # gradual: the head first, one more group each epoch
        trainable = min(len(groups), epoch + 1)
    for i, g in enumerate(groups):
        for p in g:
            p.requires_grad_(i >= len(groups) - trainable)


def _plot(history: list[dict], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    ep = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=110)
    ax.plot(ep, [h["loss"] for h in history], label="training loss", color="tab:blue")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax2 = ax.twinx()
    val = [np.nan if h["val_macro_auroc"] is None else h["val_macro_auroc"] for h in history]
    ax2.plot(ep, val, label="validation macro AUROC", color="tab:red")
    ax2.set_ylabel("macro AUROC")
    fig.legend(loc="lower center", ncol=2, fontsize=8)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.savefig(path)
    plt.close(fig)


def _json(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


class _Null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False
