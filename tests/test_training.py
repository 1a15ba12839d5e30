"""Training end to end on the real PTB-XL subset: a small model, a few epochs, CPU, one thread.

Honest validation (selection on fold 9, fold 10 once), checkpoints that hold the contract,
bit-identical resume after kill -9, DistributedDataParallel on two gloo processes, transfer to a
single-lead target, and clear errors for bad recipes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from ecgedge.errors import EcgedgeError  # noqa: E402
from ecgedge.training.checkpoint import load_checkpoint  # noqa: E402
from ecgedge.training.recipe import load_recipe  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SMALL = ["train.epochs=2", "train.batch_size=32", "train.threads=1", "train.bootstrap=50", "data.train_size=240",
         "model.arch=\"mobilenet1d\""]


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ECGEDGE_CACHE", str(tmp_path / "cache"))
    return tmp_path


def _recipe(tmp_path: Path, extra: list[str] | None = None):
    return load_recipe(REPO / "train" / "ptbxl_resnet1d18.toml", SMALL + (extra or []))


def test_train_writes_an_honest_checkpoint(data, cache):
    from ecgedge.training.loop import train

    out = cache / "run"
    res = train(_recipe(cache), out, log=lambda m: None)
    m = json.loads((out / "metrics.json").read_text())
    assert m["split"].startswith("folds 1-8 train, 9 validation, 10 test")
    assert 0.0 <= m["test"]["macro_auroc"] <= 1.0 and m["test"]["n_records"] > 200
    assert len(m["history"]) == 2 and (out / "training_curve.png").stat().st_size > 1000
    ck = load_checkpoint(res.checkpoint)
    c = ck.contract
    assert c.classes == ("CD", "HYP", "MI", "NORM", "STTC") and c.fs == 100 and c.window == 250
    assert c.thresholds is not None and len(c.thresholds) == 5
    assert c.preprocessing.sos is not None and c.preprocessing.norm == "zscore"
    assert ck.meta["store_key"] and ck.meta["recipe"]["model"]["arch"] == "mobilenet1d"
    model = ck.build_model()
    x = torch.zeros(2, 12, 250)
    assert model(x).shape == (2, 5)
    # the checkpoint is safetensors, not a pickle
    assert res.checkpoint.read_bytes()[8:9] == b"{"


def test_min_samples_per_epoch_gives_a_small_training_set_enough_steps(data, cache):
    """40 training records, batches of 32: one pass is 2 steps; asking for 128 windows an epoch gives 4."""
    from ecgedge.training.loop import train

    res = train(_recipe(cache, ["train.epochs=1", "data.train_size=40", "train.batch_size=32",
                                "train.min_samples_per_epoch=128"]), cache / "min", log=lambda m: None)
    assert [h["steps"] for h in res.metrics["history"]] == [4]
    res = train(_recipe(cache, ["train.epochs=1", "data.train_size=40", "train.batch_size=32"]), cache / "one",
                log=lambda m: None)
    assert [h["steps"] for h in res.metrics["history"]] == [2]
    with pytest.raises(EcgedgeError, match="min_samples_per_epoch"):
        _recipe(cache, ["train.min_samples_per_epoch=-1"])


def test_ema_weights_are_validated_selected_and_shipped(data, cache):
    """train.ema keeps a moving average of the weights beside the raw ones: the checkpoint holds the average,
    the validation AUROC logged is the average's, and the raw weights live on only in the training state."""
    from ecgedge.metrics import macro_auroc
    from ecgedge.training.checkpoint import _load
    from ecgedge.training.data import labels, make_split, open_store
    from ecgedge.training.loop import predict, train

    r = _recipe(cache, ["train.epochs=1", "train.ema=0.9"])
    res = train(r, cache / "ema", log=lambda m: None)
    tensors, _ = _load(cache / "ema" / "train_state.safetensors")
    ck = load_checkpoint(res.checkpoint)
    avg = {k[4:]: v for k, v in tensors.items() if k.startswith("ema.")}
    raw = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    assert avg.keys() == raw.keys() == ck.state.keys()
    assert all(torch.equal(ck.state[k], avg[k]) for k in avg)
    assert any(not torch.equal(avg[k], raw[k]) for k in avg if avg[k].is_floating_point())
    store = open_store(r)
    y, _, _ = labels(store, r)
    split = make_split(store, r, y)
    pv = predict(ck.build_model(), store, split.val, ck.contract, "cpu")
    assert macro_auroc(y[split.val], pv) == pytest.approx(res.metrics["history"][0]["val_macro_auroc"], abs=1e-9)
    for bad in ("1.0", "-0.1"):
        with pytest.raises(EcgedgeError, match="train.ema"):
            _recipe(cache, [f"train.ema={bad}"])


def _run_cli(args, env, **kw):
    return subprocess.Popen([sys.executable, "-m", "ecgedge", "train", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **kw)


def test_resume_after_kill_equals_uninterrupted(data, cache):
    """With a weight average kept (train.ema), so that its state survives the kill too."""
    env = {**os.environ, "ECGEDGE_CACHE": str(cache / "cache"), "OMP_NUM_THREADS": "1"}
    recipe = str(REPO / "train" / "ptbxl_resnet1d18.toml")
    sets = [a for s in SMALL + ["train.epochs=3", "train.ema=0.9"] for a in ("--set", s)]
    full = _run_cli([recipe, *sets, "--out", str(cache / "full")], env)
    assert full.wait(timeout=600) == 0, full.stdout.read()
    # interrupted run: kill -9 as soon as the first epoch's checkpoint is on disk
    p = _run_cli([recipe, *sets, "--out", str(cache / "cut")], env)
    state = cache / "cut" / "train_state.safetensors"
    deadline = time.time() + 600
    while not state.exists() and time.time() < deadline and p.poll() is None:
        time.sleep(0.05)
    assert p.poll() is None, "the run finished before it could be interrupted"
    p.send_signal(signal.SIGKILL)
    p.wait()
    r = _run_cli([recipe, *sets, "--out", str(cache / "cut"), "--resume"], env)
    out = r.communicate(timeout=600)[0]
    assert r.returncode == 0, out
    assert "resumed after epoch" in out
    a = load_checkpoint(cache / "full" / "model.safetensors")
    b = load_checkpoint(cache / "cut" / "model.safetensors")
    for k in a.state:
        assert torch.equal(a.state[k], b.state[k]), k
    ma = json.loads((cache / "full" / "metrics.json").read_text())
    mb = json.loads((cache / "cut" / "metrics.json").read_text())
    assert ma["test"]["macro_auroc"] == mb["test"]["macro_auroc"]


def test_ddp_two_gloo_processes(data, cache):
    env = {**os.environ, "ECGEDGE_CACHE": str(cache / "cache"), "OMP_NUM_THREADS": "1"}
    recipe = str(REPO / "train" / "ptbxl_resnet1d18.toml")
    sets = [a for s in SMALL for a in ("--set", s)]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "ecgedge",
           "train", recipe, *sets, "--out", str(cache / "ddp"), "--device", "cpu"]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert (cache / "ddp" / "model.safetensors").exists()
    assert r.stdout.count("epoch   1/2") == 1  # only rank 0 reports and writes


def test_transfer_to_single_lead_af(data, cache):
    from ecgedge.training.loop import train

    pre = train(_recipe(cache), cache / "pre", log=lambda m: None)
    logs: list[str] = []
    r = load_recipe(REPO / "train" / "physionet2017_af_transfer.toml",
                    ["train.epochs=2", "train.threads=1", "train.bootstrap=50", "data.train_size=300",
                     f'transfer.init="{pre.checkpoint}"', "model.arch=\"mobilenet1d\""])
    res = train(r, cache / "af", log=logs.append)
    assert any("adapted from 12 to 1 lead" in m for m in logs)
    c = load_checkpoint(res.checkpoint).contract
    assert c.classes == ("A",) and c.leads == ("ECG",)
    assert 0 <= res.metrics["test"]["macro_auroc"] <= 1


def test_second_cycle_keeps_the_head_and_refuses_other_classes(data, cache):
    """transfer.head = "keep": a model trained again on its own task starts from its own head (a warm restart);
    on another task it is refused with the field and the fix named, before any training."""
    import torch

    from ecgedge.errors import EcgedgeError
    from ecgedge.training.loop import _transfer, train

    pre = train(_recipe(cache), cache / "pre", log=lambda m: None)
    ck = load_checkpoint(pre.checkpoint)
    r = _recipe(cache, [f'transfer.init="{pre.checkpoint}"', 'transfer.head="keep"'])
    classes = tuple(ck.contract.classes)
    logs: list[str] = []
    model = _transfer(ck.arch, r, len(ck.contract.leads), len(classes), ck.contract.fs, logs.append, classes)
    want = ck.build_model().state_dict()
    got = model.state_dict()
    assert set(got) == set(want) and all(torch.equal(got[k], want[k]) for k in want)
    assert any("head kept" in m for m in logs)
    res = train(r, cache / "again", log=lambda m: None)
    assert load_checkpoint(res.checkpoint).contract.classes == classes
    with pytest.raises(EcgedgeError) as e:
        _transfer(ck.arch, r, len(ck.contract.leads), 2, ck.contract.fs, logs.append, ("A", "B"))
    assert "transfer.head" in str(e.value) and "reset" in str(e.value)
    with pytest.raises(EcgedgeError, match="transfer.head"):
        load_recipe(REPO / "train" / "ptbxl_resnet1d18.toml", ['transfer.head="new"'])


def test_distillation_learns_from_the_teachers_and_reuses_their_probabilities(data, cache):
    """distill.teacher: the teachers run once on every training and validation record (cached in the run folder,
    keyed by store and weights); the loss blends the labels with the teachers' probabilities. A student trained on
    the teacher alone (alpha 1) ranks the validation records more like the teacher than the same student trained on
    the labels alone (alpha 0); a missing teacher is refused, naming the file and the field."""
    import numpy as np

    from ecgedge.training.distill import DistillLoss
    from ecgedge.training.loop import train

    # a teacher good enough to have opinions (about 0.8 validation AUROC: 6 epochs on 600 records); the students
    # take its recipe with another seed, so that alpha 0 is an independent draw of the teacher's own training
    like_teacher = ["train.epochs=6", "data.train_size=600"]
    teacher = train(_recipe(cache, like_teacher), cache / "teacher", log=lambda m: None).checkpoint
    like_teacher.append("seed=2")

    def student(name: str, alpha: float, logs=None):
        r = _recipe(cache, like_teacher + [f'distill.teacher=["{teacher}"]', f"distill.alpha={alpha}"])
        train(r, cache / name, log=(logs.append if logs is not None else lambda m: None))
        return np.load(cache / name / "predictions.npz", allow_pickle=False)

    logs: list[str] = []
    taught, labelled = student("taught", 1.0, logs), student("labelled", 0.0)
    assert any("distilling from 1 teacher" in m and "validation macro AUROC" in m for m in logs)
    with np.load(cache / "taught" / "teacher.npz", allow_pickle=False) as z:
        p_t, idx = z["p"], z["idx"]
    assert p_t.shape == (len(idx), 5) and ((p_t > 0) & (p_t < 1)).all() and len(idx) > 600
    assert p_t.std(0).min() > 1e-3  # a teacher whose outputs vary between records, or this test means nothing

    def within_class_corr(a, b):  # per-class centred: agreement on which records, not on the base rates
        return np.corrcoef((a - a.mean(0)).ravel(), (b - b.mean(0)).ravel())[0, 1]

    assert list(taught["validation_records"]) == list(labelled["validation_records"])
    val_t = p_t[-len(taught["validation_records"]):]  # the cache holds training rows, then validation rows
    c_taught = within_class_corr(taught["validation_probs"], val_t)
    c_labelled = within_class_corr(labelled["validation_probs"], val_t)
    assert c_taught > c_labelled and c_taught > 0.5, (c_taught, c_labelled)

    logs.clear()  # a second run in the same folder reads the cached probabilities instead of running the teacher
    train(_recipe(cache, [f'distill.teacher=["{teacher}"]', "train.epochs=1"] + like_teacher), cache / "taught",
          log=logs.append)
    assert any("teacher probabilities from" in m for m in logs)

    # the loss: alpha 0 is the task loss; soft targets equal to the labels add nothing at T = 1
    task = torch.nn.BCEWithLogitsLoss()
    z_, y_ = torch.randn(8, 5), (torch.rand(8, 5) > 0.5).float()
    assert torch.allclose(DistillLoss(task, 0.0, 3.0, True)(z_, y_, torch.rand(8, 5)), task(z_, y_))
    assert torch.allclose(DistillLoss(task, 0.5, 1.0, True)(z_, y_, y_), task(z_, y_), atol=1e-4)

    with pytest.raises(EcgedgeError, match="distill.teacher") as e:
        train(_recipe(cache, ['distill.teacher=["no/such/model.safetensors"]']), cache / "x", log=lambda m: None)
    assert "no/such/model.safetensors" in str(e.value)
    with pytest.raises(EcgedgeError, match="distill.alpha"):
        _recipe(cache, ["distill.alpha=1.5"])


def test_init_path_is_taken_as_it_is():
    """`ecgedge train --init PATH` sets transfer.init to PATH itself: a Windows path or a quote in a folder name
    once went through a TOML string and came back with its backslashes read as escapes or its quotes kept."""
    for path in (r"C:\runs\new\model.safetensors", 'runs/"quoted"/model.safetensors', "runs/plain.safetensors"):
        r = load_recipe(REPO / "train" / "physionet2017_af_transfer.toml", ["train.epochs=1"], {"transfer.init": path})
        assert r.transfer.init == path and r.train.epochs == 1


def test_bad_recipes(data, cache, tmp_path):
    with pytest.raises(EcgedgeError, match="unknown key train.epoch"):
        load_recipe(REPO / "train" / "ptbxl_resnet1d18.toml", ["train.epoch=3"])
    with pytest.raises(EcgedgeError, match="resnet1d18"):
        from ecgedge.training.models import build_model

        build_model("resnet1d19", leads=12, classes=5)
    with pytest.raises(EcgedgeError, match="recipe not found"):
        load_recipe(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[train]\nepochs = 'many'\n")
    with pytest.raises(EcgedgeError, match="must be an integer"):
        load_recipe(bad)
    from ecgedge.training.loop import train

    with pytest.raises(EcgedgeError, match="not in the data"):
        train(load_recipe(REPO / "train" / "ptbxl_resnet1d18.toml", SMALL + ['data.one_vs_rest="XYZ"']),
              cache / "x", log=lambda m: None)


def test_cli_train_errors_are_one_line(tmp_path):
    from conftest import run_cli

    r = run_cli("train", str(tmp_path / "missing.toml"))
    assert r.returncode == 2 and r.stderr.startswith("error:") and "Traceback" not in r.stderr
    r = run_cli("train", str(REPO / "train" / "ptbxl_resnet1d18.toml"), "--set", "model.arch=\"nope\"", "--out",
                str(tmp_path / "o"), env={"ECGEDGE_CACHE": str(tmp_path / "c")})
    assert r.returncode == 2 and "nope" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("ensemble", str(tmp_path / "nothing"), str(tmp_path / "nothing2"), "--out", str(tmp_path / "e"))
    assert r.returncode == 2 and "no checkpoint here" in r.stderr and "Traceback" not in r.stderr


def test_init_from_another_architecture_names_the_layers(tmp_path):
    """--init with a checkpoint of another architecture: the error says which layers do not fit, and the fix."""
    from ecgedge.contract import InputContract
    from ecgedge.dsp import Preprocessing
    from ecgedge.training.checkpoint import save_checkpoint
    from ecgedge.training.loop import _transfer
    from ecgedge.training.models import build_model

    contract = InputContract(classes=("NORM", "MI"), preprocessing=Preprocessing(fs=100.0, window=250), dataset="test")
    ck = tmp_path / "fcn.safetensors"
    save_checkpoint(ck, build_model("fcn_wang", leads=12, classes=2), arch="fcn_wang", arch_kwargs={},
                    contract=contract, recipe={})
    r = load_recipe(REPO / "train" / "physionet2017_af_transfer.toml", values={"transfer.init": str(ck)})
    with pytest.raises(EcgedgeError) as e:
        _transfer("resnet1d_wang", r, leads=1, classes=1, fs=100.0, log=lambda m: None)
    msg = str(e.value)
    assert "is a fcn_wang, the recipe builds a resnet1d_wang" in msg
    assert "resnet1d_wang's" in msg and " fit" in msg
    assert "differ in shape" in msg or "absent from the checkpoint" in msg
    assert "model.arch=fcn_wang" in msg and str(ck) in msg


def test_ensemble_of_two_runs_exports_as_one_model(data, cache):
    """Two small runs of different architectures averaged into one checkpoint: its logits are the members'
    mean, thresholds are tuned on validation, the test fold is reported, and it exports to one ONNX graph that
    onnxruntime runs at any batch and length. Members that do not share a contract, an ensemble as a
    member, training an ensemble and fine-tuning from one are refused with the fix."""
    import numpy as np

    from ecgedge.export.pipeline import options_from, run_export
    from ecgedge.runtime.ort import session
    from ecgedge.training.ensemble import build_ensemble
    from ecgedge.training.loop import _transfer, train

    a = train(_recipe(cache), cache / "a", log=lambda m: None)
    b = train(_recipe(cache, ['model.arch="eegnet"', "seed=1"]), cache / "b", log=lambda m: None)
    log: list[str] = []
    rep = build_ensemble([cache / "a", b.checkpoint], cache / "ens", bootstrap=50, log=log.append)
    assert [m["arch"] for m in rep["members"]] == ["mobilenet1d", "eegnet"]
    assert 0.0 <= rep["validation"]["macro_auroc"] <= 1.0 and rep["test"]["n_records"] > 200
    assert any("never used for any choice" in line for line in log)
    ck = load_checkpoint(cache / "ens" / "model.safetensors")
    assert ck.arch == "ensemble" and len(ck.contract.thresholds) == 5
    ens = ck.build_model()
    ma, mb = load_checkpoint(a.checkpoint).build_model(), load_checkpoint(b.checkpoint).build_model()
    x = torch.randn(3, 12, 250)
    with torch.no_grad():
        torch.testing.assert_close(ens(x), (ma(x) + mb(x)) / 2)
    out = cache / "ens-export"
    run_export(cache / "ens" / "model.safetensors", options_from(None, out=str(out), threads=1), log=lambda m: None)
    s = session(out / "ensemble.fp32.onnx", threads=1)
    for shape in ((1, 12, 250), (5, 12, 400)):
        xx = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        with torch.no_grad():
            ref = ens(torch.from_numpy(xx)).numpy()
        np.testing.assert_allclose(s.run(None, {"ecg": xx})[0], ref, rtol=1e-4, atol=1e-4)

    with pytest.raises(EcgedgeError, match="at least 2 members"):
        build_ensemble([cache / "a"], cache / "e1")
    with pytest.raises(EcgedgeError, match="cannot be a member") as e:
        build_ensemble([cache / "ens", cache / "a"], cache / "e2")
    assert "members" in e.value.fix
    c = train(_recipe(cache, ["preprocessing.window=3.0", "train.epochs=1"]), cache / "c", log=lambda m: None)
    with pytest.raises(EcgedgeError, match="preprocess differently: window") as e:
        build_ensemble([cache / "a", c.checkpoint], cache / "e3")
    assert "same" in e.value.fix and not (cache / "e3" / "model.safetensors").exists()
    with pytest.raises(EcgedgeError, match="not trained as one") as e:
        train(_recipe(cache, ['model.arch="ensemble"']), cache / "d", log=lambda m: None)
    assert "ecgedge ensemble" in e.value.fix
    r = load_recipe(REPO / "train" / "physionet2017_af_transfer.toml",
                    [f'transfer.init="{cache / "ens" / "model.safetensors"}"'])
    with pytest.raises(EcgedgeError, match="is an ensemble") as e:
        _transfer("resnet1d_wang", r, leads=1, classes=1, fs=100.0, log=lambda m: None)
    assert str(a.checkpoint) in e.value.fix or str(cache / "a") in e.value.fix


def test_rhythm_four_classes_and_the_final_model_on_every_record(data, cache):
    """The PhysioNet-2017 rhythm recipe: single-label over N, A, O, ~, scored by the challenge's F1, with the
    selected model's per-record probabilities saved; `data.split = "all"` trains on every record for the set
    epoch count and says that nothing is held out (the CV is the estimate), down to the contract `ecgedge bench`
    reads."""
    import numpy as np

    from ecgedge.training.loop import train

    small = ["train.epochs=1", "train.batch_size=32", "train.threads=1", "train.bootstrap=0",
             "data.train_size=120", 'model.arch="mobilenet1d"']
    r = load_recipe(REPO / "train" / "physionet2017_rhythm.toml", small)
    res = train(r, cache / "cv0", log=lambda m: None)
    m = json.loads((cache / "cv0" / "metrics.json").read_text())
    assert m["test"]["task"] == "single-label" and 0.0 <= m["test"]["challenge_f1"] <= 1.0
    assert set(m["test"]["f1"]) == {"N", "A", "O", "~"}
    z = np.load(cache / "cv0" / "predictions.npz", allow_pickle=False)
    assert z["test_probs"].shape == (m["test"]["n_records"], 4)
    assert np.allclose(z["test_probs"].sum(axis=1), 1.0, atol=1e-4)
    assert not set(z["test_records"]) & set(z["validation_records"])
    c = load_checkpoint(res.checkpoint).contract
    assert c.multilabel is False and len(c.decision_weights) == 4 and c.decision_weights[0] == 1.0
    assert m["test"]["decision_weights"] == list(c.decision_weights)

    r = load_recipe(REPO / "train" / "physionet2017_rhythm.toml",
                    small + ['data.split="all"', "train.decision_weights=[1, 2, 1.4, 1]"])
    res = train(r, cache / "all", log=lambda m: None)
    m = json.loads((cache / "all" / "metrics.json").read_text())
    assert m["validation"]["macro_auroc"] is None and m["test"]["macro_auroc"] is None
    assert "nothing held out" in m["split"]
    held = load_checkpoint(res.checkpoint).contract.extra["heldout"]
    assert held["split"] == "all" and held["test_folds"] == []
    assert load_checkpoint(res.checkpoint).contract.decision_weights == (1.0, 2.0, 1.4, 1.0)
