"""Evaluation protocols (asma/evaluation/) and `asma eval`: subsets, results files, errors."""
import json
import re

import numpy as np
import pytest
import torch

from asma.cli.main import main
from asma.config.loading import config_to_dict, load_config
from asma.data.format import SkeletonSet
from asma.data.synthetic import make_synthetic
from asma.errors import ConfigError, InputFileError
from asma.evaluation.finetune import finetune_protocol, supervised_protocol, supervised_recipe
from asma.evaluation.heads import recompute_batchnorm_stats
from asma.evaluation.protocols import EncoderSource, checkpoint_config, load_source, random_encoders, run_protocols
from asma.evaluation.results import CorruptResultsWarning, read_scores, write_results
from asma.evaluation.semi import labelled_subset
from asma.evaluation.transfer import transfer_protocol
from asma.models.pretrainer import MaskedPretrainer
from asma.training.data import build_run_data
from asma.training.runtime import save_checkpoint_file

TINY = ["data.window=12", "data.persons=1", "data.synthetic={num_classes: 4, samples_per_class: 6}",
        "encoder.base_channels=4", "encoder.feature_dim=16", "encoder.depth=2", "projector.dim=32",
        "alignment.tokens=4", "alignment.heads=2", "train.threads=1", "eval.epochs=3", "eval.finetune_epochs=1",
        "eval.batch_size=8", "eval.semi_repeats=2", "eval.semi_fractions=[0.1, 0.5]", "supervised.epochs=1",
        "supervised.batch_size=8"]


def tiny_run(root, *overrides: str):
    """(config, run data, root) of the tiny synthetic set under `root`."""
    cfg = load_config("smoke", [*TINY, *overrides, f"data.cache_dir={root / 'cache'}", f"out_dir={root / 'runs'}"])
    return cfg, build_run_data(cfg), root


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_run(tmp_path_factory.mktemp("eval"))


@pytest.fixture(scope="module")
def run_dir(tiny):
    """A run folder as `asma pretrain` leaves it: checkpoints/epoch_0001.pt + latest.json."""
    cfg, data, root = tiny
    torch.manual_seed(1)
    model = MaskedPretrainer(cfg, data.dataset.layout, data.in_channels)
    run = root / "runs" / "tiny"
    (run / "checkpoints").mkdir(parents=True)
    save_checkpoint_file({"epoch": 1, "model": model.state_dict(), "config": config_to_dict(cfg)},
                         run / "checkpoints" / "epoch_0001.pt")
    (run / "checkpoints" / "latest.json").write_text(json.dumps({"path": "epoch_0001.pt", "epoch": 1}))
    return run


def test_balanced_subset_has_equal_classes_and_at_least_one_each():
    labels = np.repeat(np.arange(5), [30, 20, 40, 25, 35])
    tiny_share = labelled_subset(labels, 0.01, "balanced", seed=0)
    assert np.bincount(labels[tiny_share], minlength=5).tolist() == [1] * 5
    tenth = labelled_subset(labels, 0.1, "balanced", seed=0)
    assert np.bincount(labels[tenth], minlength=5).tolist() == [3] * 5  # 10% of 150 over 5 classes
    assert len(np.unique(tenth)) == len(tenth)


def test_random_subset_size_and_seeding():
    labels = np.repeat(np.arange(4), 50)
    a = labelled_subset(labels, 0.1, "random", seed=3)
    assert len(a) == 20 and len(np.unique(a)) == 20
    assert np.array_equal(a, labelled_subset(labels, 0.1, "random", seed=3))
    assert not np.array_equal(a, labelled_subset(labels, 0.1, "random", seed=4))
    assert not np.array_equal(labelled_subset(labels, 0.1, "balanced", seed=1),
                              labelled_subset(labels, 0.1, "balanced", seed=2))
    with pytest.raises(ConfigError, match="semi_fractions"):
        labelled_subset(labels, 1.5, "random", seed=0)


def test_results_file_holds_the_config_and_keeps_earlier_protocols(tiny, tmp_path):
    cfg, data, _ = tiny
    source = EncoderSource(random_encoders(cfg, data), "random-init", tmp_path)
    first = run_protocols(cfg, source, data, ["knn"])
    assert source.results_path == tmp_path / "eval_random_init.json"
    run_protocols(cfg, source, data, ["linear"])
    saved = json.loads(source.results_path.read_text())
    assert saved["config"] == config_to_dict(cfg) and saved["random_init"] is True
    assert set(saved["protocols"]) == {"knn", "linear"}
    assert saved["protocols"]["knn"]["top1"] == first["protocols"]["knn"]["top1"]
    for result in saved["protocols"].values():
        assert 0 <= result["top1"] <= result["top5"] <= 100
    with pytest.raises(ConfigError, match="unknown protocol"):
        run_protocols(cfg, source, data, ["linaer"])


@pytest.mark.parametrize("content", ['{"protocols": {"linear": {"top1": 5', "[1, 2]"])
def test_an_unreadable_results_file_is_kept_aside_and_named(tmp_path, content):
    """Earlier protocols' results are not silently replaced: the unreadable file is renamed aside,
    the warning names both files, and a second one goes to the next free name."""
    path = tmp_path / "eval.json"
    record = {"source": "s", "config": {"a": 1}, "protocols": {"knn": {"top1": 50.0}}}
    for aside in ("eval.json.corrupt", "eval.json.corrupt.1"):
        path.write_text(content)
        with pytest.warns(CorruptResultsWarning, match=rf"eval\.json: .*kept it as .*{re.escape(aside)}"):
            written = write_results(path, record)
        assert (tmp_path / aside).read_text() == content
        assert written == record and json.loads(path.read_text()) == record


def test_cli_runs_every_protocol_from_a_run_folder(run_dir):
    code = main(["eval", str(run_dir), "--protocols", "linear,knn,finetune,semi,supervised", "--quiet",
                 "--set", "eval.epochs=2"])
    assert code == 0
    saved = json.loads((run_dir / "eval.json").read_text())
    assert saved["config"]["eval"]["epochs"] == 2 and saved["checkpoint_epoch"] == 1
    assert saved["source"].endswith("epoch_0001.pt")
    assert set(saved["protocols"]) == {"linear", "knn", "finetune", "semi", "supervised"}
    semi = saved["protocols"]["semi"]["fractions"]
    assert set(semi) == {"0.1", "0.5"} and all(len(r["runs"]) == 2 for r in semi.values())
    assert semi["0.1"]["labelled"] == [4, 4]  # one clip per class: the class-balanced floor


def test_cli_errors_name_the_problem(run_dir, tmp_path, capsys):
    def error() -> str:
        return " ".join(capsys.readouterr().err.split())  # rich wraps long lines

    assert main(["eval", str(tmp_path / "missing")]) == 2
    assert "no such run folder" in error()
    assert main(["eval", str(tmp_path)]) == 2
    assert "no checkpoint found" in error()
    assert main(["eval", str(run_dir), "--protocols", "linear,bogus", "--quiet"]) == 2
    assert "unknown protocol" in error()
    cfg, checkpoint = checkpoint_config(run_dir, ["encoder.feature_dim=32"])
    with pytest.raises(InputFileError, match="do not fit"):
        load_source(cfg, checkpoint, build_run_data(cfg))


def test_transfer_is_fine_tuning_on_the_target_set_and_rejects_another_layout(tiny, tmp_path):
    """Transfer scores what fine-tuning the same encoders on the target set as the run's own data
    scores, to the last digit: a protocol that trained or tested on the pretraining set, on another
    split, or with the pretraining set's class count would not (4 classes there, 3 here)."""
    cfg, data, _ = tiny
    encoders = random_encoders(cfg, data)
    with pytest.raises(ConfigError, match="transfer_data"):
        transfer_protocol(cfg, encoders, data, torch.device("cpu"))
    target = make_synthetic(tmp_path / "target", num_classes=3, samples_per_class=4, persons=1, seed=5)
    result = transfer_protocol(cfg.model_copy(update={"eval": cfg.eval.model_copy(update={"transfer_data": str(target)})}),
                               encoders, data, torch.device("cpu"))
    target_data = build_run_data(cfg, SkeletonSet.open(target))
    assert target_data.num_classes == 3 != data.num_classes
    direct = finetune_protocol(cfg, encoders, target_data, torch.device("cpu"))
    assert result["num_classes"] == 3
    assert (result["train_samples"], result["test_samples"]) == (len(target_data.train), len(target_data.test))
    assert (result["top1"], result["top5"]) == (direct["top1"], direct["top5"])
    other = make_synthetic(tmp_path / "kinect", num_classes=3, samples_per_class=4, persons=1, layout="kinect_v1")
    with pytest.raises(InputFileError, match="layout"):
        transfer_protocol(cfg.model_copy(update={"eval": cfg.eval.model_copy(update={"transfer_data": str(other)})}),
                          encoders, data, torch.device("cpu"))


def test_precise_batchnorm_stats_are_the_training_clips_average(tiny):
    _, data, _ = tiny
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.BatchNorm1d(int(np.prod(data.train[0][0].shape))))
    model[1].running_mean.fill_(5.0)
    recompute_batchnorm_stats(model, data.train, torch.device("cpu"), batch_size=len(data.train))
    clips = torch.stack([data.train[i][0] for i in range(len(data.train))]).flatten(1)
    assert torch.allclose(model[1].running_mean, clips.mean(0), atol=1e-5)
    assert model[1].momentum == 0.1  # restored


def test_precise_batchnorm_stats_are_taken_with_dropout_off():
    # dropout's inverted scaling doubles what survives at p = 0.5: statistics taken with it on
    # would hold about twice the variance the BatchNorm sees when the features are read
    from asma.models.stgcn import FastDropout

    torch.manual_seed(0)
    x = torch.randn(4096, 8)
    for dropout in (torch.nn.Dropout(0.5), FastDropout(0.5)):
        model = torch.nn.Sequential(dropout, torch.nn.BatchNorm1d(8))
        recompute_batchnorm_stats(model, torch.utils.data.TensorDataset(x, torch.zeros(4096)), torch.device("cpu"), 256)
        assert torch.allclose(model[1].running_var, x.var(0), rtol=0.05)
        assert model.training  # put back in training mode, as before


def test_a_distilled_student_re_estimates_its_batchnorm_at_its_training_batch(tiny, monkeypatch):
    import asma.distillation.distill as distill

    cfg, data, _ = tiny
    cfg = cfg.model_copy(update={"distill": cfg.distill.model_copy(update={"epochs": 1, "batch_size": 4}),
                                 "student": cfg.student.model_copy(update={"depth": 2, "base_channels": 4,
                                                                           "feature_dim": 16, "window": 8})})
    seen = []
    monkeypatch.setattr(distill, "recompute_batchnorm_stats", lambda model, dataset, device, batch_size: seen.append(batch_size))
    student = distill.student_for(cfg, data, 16)
    distill.train_student(distill.scratch_config(cfg), data, student, None, torch.device("cpu"))
    assert seen == [4]


def test_the_floor_and_an_encoder_with_other_batchnorm_statistics_score_the_same(tiny, tmp_path):
    """The random-init floor's BatchNorm statistics come from the training clips, and with
    eval.precise_bn a pretrained encoder's do too: two encoders with the same weights score the
    same however their running statistics were left (here: by train-mode passes over other data)."""
    cfg, data, _ = tiny
    floor = random_encoders(cfg, data)
    for enc in floor.values():
        norms = [m for m in enc.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        assert norms and all(int(m.num_batches_tracked) > 0 for m in norms)  # estimated, not the defaults
    torch.manual_seed(cfg.train.seed)
    same_weights = MaskedPretrainer(cfg, data.dataset.layout, data.in_channels).encoders()
    with torch.no_grad():
        for enc in same_weights.values():
            enc.train()
            enc(3.0 * torch.randn(8, *data.train[0][0].shape) + 1.0)  # stale statistics, as after pretraining
    records = {name: run_protocols(cfg, EncoderSource(encs, name, tmp_path), data, ["linear", "knn"],
                                   out=tmp_path / f"{name}.json")["protocols"]
               for name, encs in [("floor", floor), ("pretrained", same_weights)]}
    for protocol in ("linear", "knn"):
        assert records["floor"][protocol]["top1"] == pytest.approx(records["pretrained"][protocol]["top1"])
    stale = cfg.model_copy(update={"eval": cfg.eval.model_copy(update={"precise_bn": False})})
    before = {k: v.clone() for k, v in same_weights["a"].state_dict().items() if "running" in k}
    run_protocols(stale, EncoderSource(same_weights, "as left", tmp_path), data, ["knn"], out=tmp_path / "s.json")
    after = same_weights["a"].state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # precise_bn=false: left as they were


def test_supervised_recipe_finetune_trains_exactly_as_finetune_does(tiny):
    """`supervised.recipe: finetune` keeps the behaviour from before the supervised section."""
    cfg, data, _ = tiny
    cfg = load_config("smoke", TINY + [f"data.cache_dir={cfg.data.cache_dir}", "supervised.recipe=finetune",
                                       "eval.finetune_epochs=2"])
    as_finetune = finetune_protocol(cfg, random_encoders(cfg, data), data, torch.device("cpu"))
    as_supervised = supervised_protocol(cfg, random_encoders(cfg, data), data, torch.device("cpu"))
    assert as_supervised["top1"] == as_finetune["top1"] and as_supervised["top5"] == as_finetune["top5"]
    assert as_supervised["epochs"] == 2 and as_supervised["recipe"] == "finetune"


def test_supervised_own_recipe_sets_optimizer_epochs_and_width(tiny, tmp_path):
    cfg, data, _ = tiny
    cfg = load_config("smoke", TINY + [f"data.cache_dir={cfg.data.cache_dir}", "supervised.epochs=2",
                                       "supervised.base_channels=6", "supervised.feature_dim=24"])
    recipe = supervised_recipe(cfg)
    assert recipe.optim.optimizer == "sgd" and recipe.optim.warmup_epochs == 5 and recipe.epochs == 2
    record = run_protocols(cfg, EncoderSource(random_encoders(cfg, data), "random-init", tmp_path), data,
                           ["supervised"], out=tmp_path / "eval.json")
    result = record["protocols"]["supervised"]
    assert (result["base_channels"], result["feature_dim"], result["epochs"]) == (6, 24, 2)
    wide = MaskedPretrainer(cfg.model_copy(update={"encoder": cfg.encoder.model_copy(
        update={"base_channels": 6, "feature_dim": 24})}), data.dataset.layout, data.in_channels).encoders()
    expected = sum(p.numel() for enc in wide.values() for p in enc.parameters())
    narrow = sum(p.numel() for enc in random_encoders(cfg, data).values() for p in enc.parameters())
    assert result["encoder_parameters"] == expected != narrow  # trained at the supervised width


def test_supervised_streams_fuse_one_model_per_stream_by_summed_softmax(tiny, tmp_path, monkeypatch):
    import asma.evaluation.finetune as finetune

    cfg, data, _ = tiny
    cfg = load_config("smoke", TINY + [f"data.cache_dir={cfg.data.cache_dir}",
                                       "supervised.streams=[joint, bone, bone_motion]"])
    seen, logits_of = [], {}
    predict = finetune.predict_clips

    def recording(model, clips, device, batch_size=256):
        logits, labels = predict(model, clips, device, batch_size)
        seen.append(clips.stream)
        logits_of[clips.stream] = logits
        return logits, labels

    monkeypatch.setattr(finetune, "predict_clips", recording)
    result = supervised_protocol(cfg, random_encoders(cfg, data), data, torch.device("cpu"))
    assert seen == ["joint", "bone", "bone_motion"] and list(result["streams"]) == seen
    labels = torch.as_tensor(data.test.labels)

    def top1(*streams):
        fused = sum(logits_of[s].softmax(1) for s in streams)
        return 100.0 * (fused.argmax(1) == labels).float().mean().item()

    assert result["top1"] == pytest.approx(top1("joint", "bone", "bone_motion"))
    assert list(result["fusions"]) == ["joint+bone"]  # each leading part short of the whole
    assert result["fusions"]["joint+bone"]["top1"] == pytest.approx(top1("joint", "bone"))
    for stream in seen:
        own = 100.0 * (logits_of[stream].argmax(1) == labels).float().mean().item()
        assert result["streams"][stream]["top1"] == pytest.approx(own)


def test_supervised_encoders_one_trains_a_single_encoder_without_the_alignment_loss(tiny, tmp_path, monkeypatch):
    """`supervised.encoders: one`: one ST-GCN per stream (the field's reference); `views` (default):
    one per masking view, concatenated, their features pulled together by the alignment loss."""
    import asma.evaluation.finetune as finetune

    cfg, data, _ = tiny
    losses = []
    loss_of = finetune.classification_loss

    def recording(logits, labels, aligned, alignment, label_smoothing=0.0):
        loss, parts = loss_of(logits, labels, aligned, alignment, label_smoothing)
        losses.append(set(parts))
        return loss, parts

    monkeypatch.setattr(finetune, "classification_loss", recording)
    results = {}
    for choice in ("views", "one"):
        run = load_config("smoke", TINY + [f"data.cache_dir={cfg.data.cache_dir}", "supervised.epochs=1",
                                           f"supervised.encoders={choice}", "alignment.loss_weight=0.1"])
        losses.clear()
        record = run_protocols(run, EncoderSource(random_encoders(run, data), "random-init", tmp_path), data,
                               ["supervised"], out=tmp_path / f"{choice}.json")
        results[choice] = (record["protocols"]["supervised"], [set(p) for p in losses])
    views, one = results["views"], results["one"]
    encoders = random_encoders(cfg, data)
    assert len(encoders) == 2 and views[0]["encoders_per_stream"] == 2 and one[0]["encoders_per_stream"] == 1
    first = next(iter(encoders.values()))
    assert one[0]["encoder_parameters"] == sum(p.numel() for p in first.parameters())
    assert views[0]["encoder_parameters"] == 2 * one[0]["encoder_parameters"]
    assert all(parts == {"ce", "align"} for parts in views[1]) and all(parts == {"ce"} for parts in one[1])


def test_supervised_head_norm_false_feeds_the_head_the_features_as_they_are(tiny):
    from asma.evaluation.finetune import clips_of, train_classifier

    cfg, data, _ = tiny
    models = {}
    for flag in ("true", "false"):
        run = load_config("smoke", TINY + [f"data.cache_dir={cfg.data.cache_dir}", "supervised.epochs=1",
                                           f"supervised.head_norm={flag}"])
        train = clips_of(run, data.dataset, data.train.indices, train=True)
        models[flag] = train_classifier(run, random_encoders(run, data), train, data.num_classes,
                                        torch.device("cpu"), recipe=supervised_recipe(run))
    assert isinstance(models["true"].classifier.norm, torch.nn.BatchNorm1d)
    assert isinstance(models["false"].classifier.norm, torch.nn.Identity)
    x = torch.stack([data.test[i][0] for i in range(4)])
    model = models["false"]
    fused, _ = model.classifier.alignment(torch.stack([enc(x) for enc in model.encoders.values()], dim=1))
    assert torch.allclose(model(x)[0], model.classifier.head(fused), atol=1e-5)


def test_the_linear_probe_keeps_its_per_clip_probabilities_beside_the_record(tiny, tmp_path):
    """What fused rows read (asma/reports/fusion.py): float16 class probabilities of every test clip,
    whose argmax scores the record's top-1, and the labels; kNN leaves none; a later protocol keeps them."""
    cfg, data, _ = tiny
    source = EncoderSource(random_encoders(cfg, data), "random-init", tmp_path)
    record = run_protocols(cfg, source, data, ["linear", "knn"], out=tmp_path / "run.json")
    assert "test_probabilities" not in json.loads((tmp_path / "run.json").read_text())["protocols"]["linear"]
    scores = read_scores(tmp_path / "run.json")
    assert set(scores) == {"labels", "linear"} and scores["linear"].dtype == np.float16
    assert scores["linear"].shape == (len(data.test), data.num_classes) and len(scores["labels"]) == len(data.test)
    assert np.allclose(scores["linear"].astype(np.float32).sum(axis=1), 1.0, atol=1e-2)
    top1 = (scores["linear"].astype(np.float32).argmax(axis=1) == scores["labels"]).mean() * 100
    assert top1 == pytest.approx(record["protocols"]["linear"]["top1"], abs=1e-4)
    run_protocols(cfg, source, data, ["knn"], out=tmp_path / "run.json")
    assert np.array_equal(read_scores(tmp_path / "run.json")["linear"], scores["linear"])


def test_an_interrupted_supervised_reference_starts_again_at_its_first_unfinished_stream(tiny, tmp_path, monkeypatch):
    """Four streams of 80 epochs take hours on a CPU: a reference stopped in its third stream keeps
    the two it finished, trains only the rest, and scores as the uninterrupted one; scores kept
    under another config are not read."""
    import asma.evaluation.finetune as finetune

    cfg, data, _ = tiny
    cfg = load_config("smoke", TINY + [f"data.cache_dir={cfg.data.cache_dir}", "supervised.epochs=1",
                                       "supervised.streams=[joint, bone, motion]"])
    whole = supervised_protocol(cfg, random_encoders(cfg, data), data, torch.device("cpu"))
    trained = []
    train = finetune.train_classifier

    def stopped_in_motion(stream_cfg, *args, **kwargs):
        trained.append(stream_cfg.data.stream)
        if stream_cfg.data.stream == "motion" and trained.count("motion") == 1:
            raise KeyboardInterrupt
        return train(stream_cfg, *args, **kwargs)

    monkeypatch.setattr(finetune, "train_classifier", stopped_in_motion)
    work = tmp_path / "eval.streams"
    with pytest.raises(KeyboardInterrupt):
        supervised_protocol(cfg, random_encoders(cfg, data), data, torch.device("cpu"), work=work)
    assert sorted(p.name for p in work.iterdir()) == ["bone.pt", "joint.pt"]
    resumed = supervised_protocol(cfg, random_encoders(cfg, data), data, torch.device("cpu"), work=work)
    assert trained == ["joint", "bone", "motion", "motion"] and not work.exists()
    assert resumed["top1"] == pytest.approx(whole["top1"]) and resumed["streams"] == whole["streams"]
    # another config's scores are never read: every stream trains again
    trained.clear()
    monkeypatch.setattr(finetune, "train_classifier", lambda c, *a, **k: trained.append(c.data.stream) or train(c, *a, **k))
    labels = torch.as_tensor(data.test.labels)
    finetune.FinishedStreams(work, cfg, labels).put("joint", torch.zeros(len(labels), data.num_classes), labels)
    other = cfg.model_copy(update={"eval": cfg.eval.model_copy(update={"seed": cfg.eval.seed + 1})})
    supervised_protocol(other, random_encoders(cfg, data), data, torch.device("cpu"), work=work)
    assert trained == ["joint", "bone", "motion"]


def test_a_supervised_stream_stopped_between_epochs_continues_at_the_next(tiny, tmp_path, monkeypatch):
    """A stream of 80 epochs takes hours on a CPU: stopped after its second of three epochs, it keeps
    that state and trains the third alone, scoring exactly as the uninterrupted stream."""
    import asma.evaluation.finetune as finetune

    cfg, data, _ = tiny
    cfg = load_config("smoke", TINY + [f"data.cache_dir={cfg.data.cache_dir}", "supervised.epochs=3",
                                       "supervised.streams=[joint]", "encoder.dropout=0.3"])
    whole = supervised_protocol(cfg, random_encoders(cfg, data), data, torch.device("cpu"))
    keep, kept = finetune.TrainingState.keep, []

    def stopped_after_two(self, epochs, *args):
        keep(self, epochs, *args)
        kept.append(epochs)
        if epochs == 2 and kept.count(2) == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(finetune.TrainingState, "keep", stopped_after_two)
    work = tmp_path / "eval.streams"
    with pytest.raises(KeyboardInterrupt):
        supervised_protocol(cfg, random_encoders(cfg, data), data, torch.device("cpu"), work=work)
    assert sorted(p.name for p in work.iterdir()) == ["joint.training.pt"]
    torch.manual_seed(123)  # whatever ran in between: the kept random state is the one that counts
    resumed = supervised_protocol(cfg, random_encoders(cfg, data), data, torch.device("cpu"), work=work)
    assert kept == [1, 2, 3] and not work.exists()
    assert resumed["streams"] == whole["streams"] and resumed["top5"] == whole["top5"]
    # a state kept under another config is not read: the stream trains from its first epoch
    kept.clear()
    other = cfg.model_copy(update={"eval": cfg.eval.model_copy(update={"seed": cfg.eval.seed + 1})})
    with pytest.raises(KeyboardInterrupt):
        supervised_protocol(cfg, random_encoders(cfg, data), data, torch.device("cpu"), work=work)
    supervised_protocol(other, random_encoders(other, data), data, torch.device("cpu"), work=work)
    assert kept == [1, 2, 1, 2, 3]
