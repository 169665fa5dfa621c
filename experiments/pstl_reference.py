"""PSTL's own pretraining and linear evaluation on a prepared set, at the sizes of our `pstl` view.

Issue 18, item 6: the linear top-1 of PSTL's public code (github.com/YujieOuO/PSTL) beside our
`masking.views=[pstl]` row at the same budget tells a reader whether a masking result here is the
method's or our implementation's. PSTL's code is not part of this project; fetch it anywhere:

    git clone https://github.com/YujieOuO/PSTL /work/pstl
    .venv/bin/pip install einops     # PSTL's model.py imports it; not a project dependency
    .venv/bin/python -m experiments.pstl_reference --pstl /work/pstl --data data/msr_action3d \\
        --out runs/pstl_reference/msr_action3d_e200 --epochs 200 --seeds 0 1 2

Steps: (1) the prepared set's split is written in PSTL's feeder layout (`export_pstl`: our evaluation
clips, `data.window` frames) under OUT/data; (2) for each seed, PSTL's `BTProcessor` pretrains
(procedure.py, `train_mode="pretrain"`) and its `RecognitionProcessor` linear-evaluates
(`train_mode="lp"`) the saved encoder (`--epochs 0`: its random-init encoder, the floor of PSTL's
protocol beside our floor row); (3) OUT/seed<N>.json gets the linear top-1. A seed with its
JSON is skipped and one with its pretrained weights goes straight to the linear evaluation, so
the command resumes; without --epochs/--seeds work it prints the table of what is there.

Settings: the sizes and budget come from our config (`--preset`, default `real`, with --set):
T, persons, ST-GCN width, projector width, lambda, batch, Adam's lr and weight decay, pretraining
epochs (--epochs), linear-probe epochs, lr and batch (eval.*), and the masked joint and frame counts
of the `pstl` view. Everything else is PSTL's config.py, read from its file (dropout 0.5, shear 1,
temporal padding 1/6, CSM, MATM) or its code (augmentations, its 10-epoch warm-up + cosine, the
linear-eval recipe); --pstl-set changes any of these, e.g. `--pstl-set dropout=0.0 warmup_epoch=0`.
PSTL's code is NTU-25 only in four places, which are supplied from the set's layout without
changing the algorithm: the graph's edges and centre (`Graph.get_edge`), CSM's degree list, the
left/right order of `random_spatial_flip`, and the classifier's class count (`Linear`).
"""
from __future__ import annotations

import os

os.environ.setdefault("TQDM_DISABLE", "1")  # before torch, which imports tqdm: PSTL wraps every loader in it

import argparse
import ast
import json
import logging
import random
import subprocess
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from asma.config.loading import load_config
from asma.data.atomic import write_json_atomic
from asma.data.external import export_pstl
from asma.evaluation.features import extract_features
from asma.evaluation.heads import recompute_batchnorm_stats
from asma.evaluation.knn import knn_accuracy, topk_accuracy
from asma.evaluation.linear import train_linear_head
from asma.masking.frames import dropped_frame_counts
from asma.masking.joints import masked_joint_count
from asma.skeleton.layout import Layout, load_layout
from experiments.pstl_shim import import_pstl

PATH_KEYS = ("train_list", "test_list", "train_label", "test_label", "weight_path", "log_path", "result_path",
             "label_path", "train_mode")


def pstl_defaults(folder: Path) -> dict:
    """The literal settings of PSTL's config.py (`my_config`'s assignments), read without sacred."""
    tree = ast.parse((folder / "config.py").read_text())
    body = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "my_config").body
    settings = {}
    for node in body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            try:
                settings[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:  # paths built from other settings; the runner sets its own
                pass
    return settings


def our_config(args):
    return load_config(args.preset, [f"data.path={args.data}", "masking.views=[pstl]",
                                     f"train.epochs={args.epochs or 1}", *args.set])


def pstl_settings(cfg, layout: Layout, defaults: dict, extra: list[str]) -> dict:
    """PSTL's config with our sizes and budget; `extra` (KEY=VALUE) last."""
    e, view = cfg.encoder, cfg.masking.specs["pstl"]
    fixed = {"encoder.depth": (e.depth, 10), "encoder.temporal_kernel": (e.temporal_kernel, 9),
             "encoder.edge_importance": (e.edge_importance, True), "projector.layers": (cfg.projector.layers, 3),
             "optim.optimizer": (cfg.optim.optimizer, "adam"), "data.stream": (cfg.data.stream, "joint")}
    for key, (ours, theirs) in fixed.items():
        if ours != theirs:
            raise SystemExit(f"{key} is {ours}; PSTL's code has {theirs} built in")
    by_motion, at_random = dropped_frame_counts(view.frames, cfg.data.window)
    if by_motion != at_random:
        raise SystemExit(f"the pstl view drops {by_motion} frames by motion and {at_random} at random; "
                         "PSTL's MATM drops mask_frame of each")
    s = dict(defaults)
    s.update(view="joint", split=cfg.data.split, in_channels=layout.coord_dims,
             channel_num=layout.coord_dims, joint_num=layout.num_joints, person_num=cfg.data.persons,
             max_frame=cfg.data.window, hidden_channels=e.base_channels, hidden_dim=e.feature_dim,
             hidden_size=e.feature_dim, pj_size=cfg.projector.dim, lambd=cfg.projector.off_diagonal_weight,
             batch_size=cfg.train.batch_size, pretrain_lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay,
             pretrain_epoch=cfg.train.epochs, lp_epoch=cfg.eval.epochs, lp_lr=cfg.eval.lr,
             lp_batch_size=cfg.eval.batch_size, mask_joint=masked_joint_count(view.joints, layout.num_joints),
             mask_frame=by_motion, graph_args={"layout": layout.name, "strategy": "spatial"},
             warmup_epoch=10,  # BaseProcessor.adjust_learning_rate's default
             save_lp=False, result_path="", label_path="")  # PSTL saves test logits only with save_lp
    for item in extra:
        key, _, value = item.partition("=")
        if key not in s or key in PATH_KEYS:
            raise SystemExit(f"--pstl-set {item}: not one of PSTL's settings ({', '.join(sorted(set(s) - set(PATH_KEYS)))})")
        s[key] = yaml.safe_load(value)
    return s


def adapt_to_layout(procedure, graph_module, layout: Layout, settings: dict, num_classes: int) -> None:
    """Give PSTL's NTU-25 tables the layout's: graph, CSM degrees, flip order, class count."""
    original_get_edge = graph_module.Graph.get_edge

    def get_edge(self, name):
        if name != layout.name:
            return original_get_edge(self, name)
        self.num_node = layout.num_joints
        self.edge = [(i, i) for i in range(layout.num_joints)] + [tuple(b) for b in layout.bones]
        self.center = layout.center

    graph_module.Graph.get_edge = get_edge
    degrees, order = layout.degrees.tolist(), layout.flip_permutation.tolist()

    def central_spacial_mask(mask_joint=None):  # PSTL's body, the layout's degree centrality
        all_joint = []
        for i in range(layout.num_joints):
            all_joint += [i] * degrees[i]
        return random.sample(all_joint, settings["mask_joint"] if mask_joint is None else mask_joint)

    def random_spatial_flip(data, p=0.5):  # PSTL's body, the layout's left/right order
        temp = data.clone()
        if random.random() < p:
            temp = temp[:, :, :, order, :]
        return temp

    class Linear(procedure.Linear):  # PSTL's, with the set's class count instead of NTU/PKU's
        def __init__(self):
            torch.nn.Module.__init__(self)
            self.classifier = torch.nn.Linear(settings["hidden_size"], num_classes)
            self.apply(procedure.init_weights)

    procedure.central_spacial_mask, procedure.random_spatial_flip, procedure.Linear = \
        central_spacial_mask, random_spatial_flip, Linear


def check_on_ntu(folder: Path) -> list[str]:
    """The adaptation given the ntu25 layout against PSTL's own NTU tables: graph, CSM draws, flip.
    Returns the differences (none: the adapted functions are PSTL's on the layout it was written for)."""
    settings = pstl_defaults(folder)
    model, procedure, graph_module, _ = import_pstl(folder, settings, modules=("model", "procedure", "module.gcn.utils.graph"))
    adapt_to_layout(procedure, graph_module, load_layout("ntu25"), settings, num_classes=60)
    problems = []
    theirs, ours = (graph_module.Graph(layout=name, strategy="spatial").A for name in ("ntu-rgb+d", "ntu25"))
    if theirs.shape != ours.shape or not np.array_equal(theirs, ours):
        problems.append("graph: the ntu25 layout's spatial partition differs from PSTL's ntu-rgb+d")
    for seed in range(20):
        draws = []
        for fn in (model.central_spacial_mask, procedure.central_spacial_mask):
            random.seed(seed)
            draws.append(fn())
        if draws[0] != draws[1]:
            problems.append(f"CSM, random.seed({seed}): PSTL draws {draws[0]}, the adaptation {draws[1]}")
        x = torch.randn(2, 3, 4, 25, 1)
        flipped = []
        for fn in (model.random_spatial_flip, procedure.random_spatial_flip):
            random.seed(seed)
            flipped.append(fn(x))
        if not torch.equal(*flipped):
            problems.append(f"flip, random.seed({seed}): the joint orders differ")
    return problems


def processors(procedure, dataset_cls, settings: dict):
    """PSTL's pretraining and linear-evaluation processors; only where data and weights live differ."""
    def loaders(batch_size: int) -> dict:  # PSTL's load_data with num_workers=0 (it asks for 32)
        data = {part: dataset_cls(settings[f"{part}_list"], settings[f"{part}_label"]) for part in ("train", "test")}
        return {part: torch.utils.data.DataLoader(data[part], batch_size=batch_size, shuffle=part == "train")
                for part in data}

    class Pretrain(procedure.BTProcessor):
        def load_data(self):
            self.data_loader = loaders(settings["batch_size"])

        def adjust_learning_rate(self, optimizer, current_epoch, max_epoch, lr_min=0, lr_max=0.1, warmup_epoch=10):
            super().adjust_learning_rate(optimizer, current_epoch, max_epoch, lr_min, lr_max, settings["warmup_epoch"])

        def save_model(self, epoch):
            partial = settings["weight_path"] + ".partial"
            torch.save(self.encoder.state_dict(), partial)
            os.replace(partial, settings["weight_path"])

    class LinearEval(procedure.RecognitionProcessor):
        def load_data(self):
            self.data_loader = loaders(settings["lp_batch_size"])

    return Pretrain, LinearEval


def sample_top1(processor, procedure) -> float:
    """Top-1 (%) of the final classifier over the test samples (PSTL's log averages batch accuracies)."""
    processor.encoder.eval()
    processor.classifier.eval()
    correct = total = 0
    with torch.no_grad():
        for data, label in processor.data_loader["test"]:
            pred = processor.classifier(processor.encoder(procedure.get_stream(data.float()))).argmax(1)
            correct += int((pred == label.long()).sum())
            total += len(label)
    return 100.0 * correct / total


def run_phase(processor_cls, procedure, settings: dict, seed: int, mode: str, log_path: Path):
    settings.update(train_mode=mode, log_path=str(log_path))
    procedure.setup_seed(seed)  # PSTL seeds at import; each of its phases is a fresh process
    processor = processor_cls()
    start = time.perf_counter()
    try:
        processor.start()
    finally:
        for handler in logging.getLogger().handlers[:]:  # PSTL's Log adds handlers to the root logger
            handler.close()
            logging.getLogger().removeHandler(handler)
    return processor, time.perf_counter() - start


def run_seed(seed: int, out: Path, settings: dict, procedure, phases) -> dict:
    pretrain_s = pretrain_once(seed, out, settings, procedure, phases)  # makes OUT/seed<N>/
    lp, lp_s = run_phase(phases[1], procedure, settings, seed, "lp", out / f"seed{seed}" / "lp.log")
    return lp_result(seed, lp, procedure, pretrain_s, lp_s)


def pretrain_once(seed: int, out: Path, settings: dict, procedure, phases) -> float | None:
    """PSTL's pretraining of `seed` into OUT/seed<N>/pretrain.pt unless it is there (seconds, or
    None). With 0 epochs nothing is pretrained: the weight path is empty, which PSTL's
    load_weights skips, so its linear evaluation reads the random-init encoder (the floor)."""
    folder = out / f"seed{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    if settings["pretrain_epoch"] == 0:
        settings["weight_path"] = ""
        return None
    settings["weight_path"] = str(folder / "pretrain.pt")
    written = folder / "pretrain.json"
    if written.exists() and json.loads(written.read_text()) != json.loads(json.dumps(recipe(settings))):
        raise SystemExit(f"{folder} was pretrained with other settings; choose another --out")
    if Path(settings["weight_path"]).exists():
        return None
    _, seconds = run_phase(phases[0], procedure, settings, seed, "pretrain", folder / "pretrain.log")
    write_json_atomic(written, recipe(settings))
    return seconds


def lp_result(seed: int, lp, procedure, pretrain_s, lp_s) -> dict:
    return {"seed": seed, "top1": sample_top1(lp, procedure),
            "pstl_log_best_top1": 100.0 * lp.log.max_data["test_acc"], "pstl_log_best_epoch": lp.log.max_data["best_epoch"],
            "pstl_log_last_top1": 100.0 * lp.log.epoch_data["log/test/cls_acc"][-1],
            "pretrain_seconds": pretrain_s, "lp_seconds": lp_s, "threads": torch.get_num_threads()}


class StreamEncoder(torch.nn.Module):
    """PSTL's encoder on our side of the fence: PSTL's input stream (`get_stream`, the joint view
    here), then its ST-GCN; (N, C, T, V, M) clips in, (N, D) features out."""

    def __init__(self, encoder: torch.nn.Module, get_stream):
        super().__init__()
        self.encoder, self.get_stream = encoder, get_stream

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(self.get_stream(x.float()))


def exported_clips(settings: dict, part: str) -> torch.utils.data.TensorDataset:
    """The clips PSTL's feeder reads (`{train,test}_list` / `_label`), as one tensor dataset."""
    import pickle

    with open(settings[f"{part}_label"], "rb") as f:
        _, labels = pickle.load(f)
    return torch.utils.data.TensorDataset(torch.from_numpy(np.load(settings[f"{part}_list"])).float(),
                                          torch.as_tensor(labels, dtype=torch.long))


def frozen_protocols(cfg, encoder: torch.nn.Module, train, test, num_classes: int) -> dict:
    """Our linear probe (cfg.eval: BatchNorm + linear head on cached features) and weighted kNN."""
    cpu = torch.device("cpu")
    train_x, train_y = extract_features({"pstl": encoder}, train, cpu)
    test_x, test_y = extract_features({"pstl": encoder}, test, cpu)
    head = train_linear_head(cfg, train_x, train_y, num_classes)
    with torch.no_grad():
        logits, _ = head(test_x)
    knn = knn_accuracy(train_x, train_y, test_x, test_y, num_classes, cfg.eval.knn_k, cfg.eval.knn_temperature)
    return {"linear": topk_accuracy(logits, test_y)["top1"], "knn": knn["top1"]}


def our_probe(seed: int, out: Path, settings: dict, procedure, cfg, num_classes: int) -> dict:
    """PSTL's encoder of `seed` read by our frozen protocols, to tell its pretraining from its
    linear evaluation: its pretrained weights (with --epochs 0 its random init, built after
    PSTL's `setup_seed(seed)` as its linear evaluation builds it), first with the BatchNorm
    statistics PSTL's evaluation reads (those of pretraining), then re-estimated on the training
    clips as ours are (`eval.precise_bn`)."""
    procedure.setup_seed(seed)
    encoder = procedure.Model(in_channels=settings["in_channels"], hidden_channels=settings["hidden_channels"],
                              hidden_dim=settings["hidden_dim"], dropout=settings["dropout"],
                              graph_args=settings["graph_args"],
                              edge_importance_weighting=settings["edge_importance_weighting"])
    if settings["pretrain_epoch"]:
        encoder.load_state_dict(torch.load(out / f"seed{seed}" / "pretrain.pt", map_location="cpu"))
    wrapped = StreamEncoder(encoder, procedure.get_stream)
    train, test = exported_clips(settings, "train"), exported_clips(settings, "test")
    result = {"seed": seed, "pretrain_bn": frozen_protocols(cfg, wrapped, train, test, num_classes)}
    recompute_batchnorm_stats(wrapped, train, torch.device("cpu"), cfg.eval.batch_size)
    result["precise_bn"] = frozen_protocols(cfg, wrapped, train, test, num_classes)
    return result


def recipe(settings: dict) -> dict:
    return {k: v for k, v in settings.items() if k not in PATH_KEYS}


def table(out: Path) -> str:
    rows = [json.loads(p.read_text()) for p in sorted(out.glob("seed*.json")) if p.stem[4:].isdigit()]
    if not rows:
        return f"no results in {out}"
    top1 = np.array([r["top1"] for r in rows])
    epochs = rows[0]["settings"]["pretrain_epoch"]
    budget = f"{epochs} pretraining epochs" if epochs else "random init, no pretraining (its protocol's floor)"
    lines = [f"{out}: PSTL's code, {budget}, linear top-1 (%)"]
    lines += [f"  seed {r['seed']}: {r['top1']:.1f} (PSTL's log: best {r['pstl_log_best_top1']:.1f} at epoch "
              f"{r['pstl_log_best_epoch']}, last {r['pstl_log_last_top1']:.1f})" for r in rows]
    lines.append(f"  mean {top1.mean():.1f} +- {top1.std(ddof=1) if len(top1) > 1 else 0:.1f} (std) over {len(rows)} seeds")
    probed = [json.loads(p.read_text()) for p in sorted(out.glob("seed*_our_probe.json"))]
    for key, what in (("pretrain_bn", "pretraining's BatchNorm statistics, as PSTL reads them"),
                      ("precise_bn", "BatchNorm re-estimated on the training clips, as ours")):
        if probed:
            lines.append(f"  the same encoders, our linear probe / kNN, {what}: " + "; ".join(
                f"seed {r['seed']} {r[key]['linear']:.1f} / {r[key]['knn']:.1f}" for r in probed)
                + f"; mean {np.mean([r[key]['linear'] for r in probed]):.1f} / {np.mean([r[key]['knn'] for r in probed]):.1f}")
    return "\n".join(lines)


def pstl_commit(folder: Path) -> str | None:
    done = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pstl", type=Path, default=os.environ.get("PSTL_DIR"), help="a checkout of PSTL (default $PSTL_DIR)")
    p.add_argument("--data", default="data/msr_action3d", help="a prepared set (asma data prepare)")
    p.add_argument("--out", type=Path, help="results folder: data/, seed<N>/, seed<N>.json")
    p.add_argument("--epochs", type=int, help="pretraining epochs (0: no pretraining, PSTL's linear evaluation "
                   "of its random-init encoder, the floor of its protocol; omitted: print the table of --out)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--preset", default="real", help="our config the sizes come from (default real)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override our config")
    p.add_argument("--pstl-set", action="append", default=[], metavar="KEY=VALUE", help="override a PSTL setting")
    p.add_argument("--threads", type=int, help="torch threads (default: the config's train.threads)")
    p.add_argument("--our-probe", action="store_true",
                   help="read each seed's encoder (pretrained, or with --epochs 0 random init) with our linear "
                        "probe and kNN: OUT/seed<N>_our_probe.json")
    p.add_argument("--check-ntu", action="store_true",
                   help="only check that the layout adaptation, given NTU's layout, equals PSTL's own code")
    args = p.parse_args(argv)
    if args.pstl is not None and not (Path(args.pstl) / "procedure.py").exists():
        p.error(f"--pstl {args.pstl}: no procedure.py there; clone https://github.com/YujieOuO/PSTL into it")
    if args.check_ntu and args.pstl is None:
        p.error("--check-ntu needs --pstl")
    if args.check_ntu:
        problems = check_on_ntu(args.pstl)
        print("\n".join(problems) or "on ntu25 the adapted graph, CSM and flip equal PSTL's own")
        return 1 if problems else 0
    if args.out is None:
        p.error("--out is required")
    if args.epochs is None:
        print(table(args.out))
        return 0
    if args.epochs < 0:
        p.error(f"--epochs {args.epochs}: pretraining epochs, 0 (the floor) or more")
    if args.pstl is None:
        p.error("--pstl: a checkout of https://github.com/YujieOuO/PSTL (or set $PSTL_DIR)")
    cfg = our_config(args)
    torch.set_num_threads(args.threads or cfg.train.threads or torch.get_num_threads())
    layout = load_layout(json.loads((Path(args.data) / "meta.json").read_text())["layout"])
    settings = pstl_settings(cfg, layout, pstl_defaults(args.pstl), args.pstl_set)
    settings["pretrain_epoch"] = args.epochs  # 0: the floor (our config's epochs must be >= 1)
    exported = args.out / "data" / cfg.data.split
    if not (exported / "pstl_export.json").exists():
        export_pstl(args.data, exported, cfg.data)
    export = json.loads((exported / "pstl_export.json").read_text())
    settings["dataset"] = export["dataset"]
    if export["clip"] != json.loads(cfg.data.model_dump_json(include={"window", "persons", "sampling", "crop_max", "normalise"})):
        raise SystemExit(f"{exported} was written with other clip settings ({export['clip']}); choose another --out")
    for part, prefix in (("train", "train"), ("test", "val")):
        settings[f"{part}_list"] = str(exported / f"{prefix}_data_joint.npy")
        settings[f"{part}_label"] = str(exported / f"{prefix}_label.pkl")
    procedure, graph_module, dataset_module, _ = import_pstl(
        args.pstl, settings, modules=("procedure", "module.gcn.utils.graph", "dataset"))
    adapt_to_layout(procedure, graph_module, layout, settings, export["num_classes"])
    phases = processors(procedure, dataset_module.DataSet, settings)
    if args.our_probe:
        for seed in args.seeds:
            pretrain_once(seed, args.out, settings, procedure, phases)  # PSTL's linear evaluation is not needed
            result = our_probe(seed, args.out, settings, procedure, cfg, export["num_classes"])
            write_json_atomic(args.out / f"seed{seed}_our_probe.json",
                              {**result, "settings": recipe(settings), "our_config": args.preset,
                               "our_overrides": args.set, "torch": torch.__version__})
            print(f"seed {seed}: our probe {result}", flush=True)
        print(table(args.out))
        return 0
    for seed in args.seeds:
        result_path = args.out / f"seed{seed}.json"
        if result_path.exists():
            if json.loads(result_path.read_text())["settings"] != json.loads(json.dumps(recipe(settings))):
                raise SystemExit(f"{result_path} was run with other settings; choose another --out")
            continue
        result = run_seed(seed, args.out, settings, procedure, phases)
        write_json_atomic(result_path, {**result, "settings": recipe(settings), "data": export,
                                        "pstl_commit": pstl_commit(args.pstl), "our_config": args.preset,
                                        "our_overrides": args.set, "torch": torch.__version__})
        print(f"seed {seed}: linear top-1 {result['top1']:.1f}%  ({result_path})", flush=True)
    print(table(args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
