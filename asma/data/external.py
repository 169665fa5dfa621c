"""`asma data import`: convert sets prepared by other projects into the standard format.

- `ctrgcn-npz`: CTR-GCN / MAMP `NTU60_CS.npz`: `x_train` (N, 300, 150) zero-padded, one-hot `y_train`,
  `x_test`, `y_test`; 150 = 2 persons x 25 joints x 3; a sample's length is its last non-zero frame.
- `pyskl`: a pyskl pickle, `{"split": {"xsub_train": [frame_dir, ...], ...}, "annotations": [{"frame_dir",
  "label", "keypoint" (M, T, V, C), optional "keypoint_score" (M, T, V)}, ...]}`; for 2D keypoints the
  score becomes the third channel.
- `pstl`: AimCLR / PSTL folders of `train_data_joint.npy` / `val_data_joint.npy` (N, C, T, V, M) with
  `train_label.pkl` / `val_label.pkl` (a pickle of (names, labels)).

`export_pstl` writes the last format back from a prepared set, for running PSTL's own code on it
(experiments/pstl_reference.py).
"""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Iterator

import numpy as np

from asma.config.schema import DataConfig
from asma.data.atomic import atomic_directory, write_json_atomic
from asma.data.class_names import class_names_for
from asma.data.clips import SkeletonClips
from asma.data.format import UNREADABLE, SkeletonSet, write_skeleton_set
from asma.errors import InputFileError
from asma.skeleton.layout import load_layout

FORMATS = ("ctrgcn-npz", "pyskl", "pstl")
LAYOUT_BY_SHAPE = {(25, 3): "ntu25", (20, 3): "kinect_v1", (17, 2): "coco17"}  # (V, C) -> layout
SPLIT_BY_SUFFIX = {"cs": "xsub", "csub": "xsub", "xsub": "xsub", "cv": "xview", "xview": "xview",
                   "cset": "xset", "xset": "xset"}


def valid_lengths(x: np.ndarray) -> np.ndarray:
    """(N, T, ...) zero-padded -> (N,) frames up to and including the last non-zero one."""
    nonzero = x.reshape(x.shape[0], x.shape[1], -1).any(axis=2)
    return np.where(nonzero.any(axis=1), x.shape[1] - np.argmax(nonzero[:, ::-1], axis=1), 0)


def choose_layout(path: Path, num_joints: int, coords: int, layout: str | None) -> str:
    if layout:
        if load_layout(layout).num_joints != num_joints:
            raise InputFileError(path, f"has {num_joints} joints but layout {layout} has {load_layout(layout).num_joints}")
        return layout
    if (num_joints, coords) not in LAYOUT_BY_SHAPE:
        raise InputFileError(path, f"no built-in layout for {num_joints} joints with {coords} coordinates",
                             fix="pass --layout NAME_OR_YAML")
    return LAYOUT_BY_SHAPE[(num_joints, coords)]


def split_name(stem: str) -> str:
    """'NTU60_CS' -> 'xsub', 'NTU120_CSet' -> 'xset'; anything else keeps the given name."""
    return SPLIT_BY_SUFFIX.get(stem.rsplit("_", 1)[-1].lower(), stem.lower())


def load_pickle(path: Path):
    try:
        with open(path, "rb") as f:
            return pickle.load(f)
    except (pickle.UnpicklingError, EOFError, AttributeError, ModuleNotFoundError) as e:
        raise InputFileError(path, f"not a readable pickle: {e}") from None


def _trimmed(x: np.ndarray, names: list[str], labels: np.ndarray, lengths: np.ndarray,
             skipped: list[dict], path: Path) -> Iterator[tuple[str, int, np.ndarray]]:
    """(N, T, M, V, C) padded samples -> (name, label, frames (T_i, M, V, C)); empty samples are skipped."""
    for i in range(x.shape[0]):
        if lengths[i] == 0:
            skipped.append({"file": f"{path}#{names[i]}", "reason": "all frames are zero", "kind": UNREADABLE})
            continue
        yield names[i], int(labels[i]), x[i, : lengths[i]]


def _write(out: Path, parts: list[tuple[str, np.ndarray, list[str], np.ndarray]], split: str, *, layout: str,
           dataset: str, path: Path, class_names: list[str], fmt: str) -> dict:
    """Write parts ('train'/'test', (N, T, M, V, C) padded, names, labels) as one set with split `split`."""
    skipped: list[dict] = []
    kept: dict[str, list[int]] = {"train": [], "test": []}
    shape = parts[0][1].shape[2:]

    def samples():
        index = 0
        for part, x, names, labels in parts:
            for sample in _trimmed(x, names, labels, valid_lengths(x), skipped, path):
                kept[part].append(index)
                index += 1
                yield sample

    meta = {"dataset": dataset, "layout": layout, "num_classes": len(class_names), "class_names": class_names,
            "source": {"raw": str(path.resolve()), "format": fmt, "files": 1},
            "preprocessing": {"imported_from": fmt, "length": "up to the last non-zero frame"},
            "skipped": skipped}
    write_skeleton_set(out, samples(), splits={split: kept}, meta=meta, num_persons=shape[0],
                       num_joints=shape[1], channels=shape[2])
    return {**meta, "num_samples": len(kept["train"]) + len(kept["test"]),
            "splits_summary": [f"{split} train {len(kept['train'])}", f"test {len(kept['test'])}"]}


def import_ctrgcn_npz(path: Path, out: Path, layout: str | None, dataset: str | None, names_file: Path | None) -> dict:
    try:
        arrays = np.load(path)
        x_train, y_train, x_test, y_test = (arrays[k] for k in ("x_train", "y_train", "x_test", "y_test"))
    except (OSError, ValueError, KeyError) as e:
        raise InputFileError(path, f"not a CTR-GCN npz with x_train, y_train, x_test, y_test ({e})") from None
    if x_train.ndim != 3 or x_train.shape[2] % 75:
        raise InputFileError(path, f"x_train has shape {x_train.shape}, expected (N, T, 150) or (N, T, 75)")
    persons = x_train.shape[2] // 75
    layout = choose_layout(path, 25, 3, layout)
    parts = [(part, x.reshape(x.shape[0], x.shape[1], persons, 25, 3), [f"{part}_{i:06d}" for i in range(len(x))],
              y.argmax(axis=1) if y.ndim == 2 else y) for part, x, y in (("train", x_train, y_train), ("test", x_test, y_test))]
    num_classes = y_train.shape[1] if y_train.ndim == 2 else int(max(y_train.max(), y_test.max())) + 1
    return _write(out, parts, split_name(path.stem), layout=layout, dataset=dataset or path.stem.split("_")[0].lower(),
                  path=path, class_names=class_names_for(names_file, num_classes), fmt="ctrgcn-npz")


def pyskl_frames(annotation: dict, persons: int) -> np.ndarray:
    """One pyskl annotation -> (T, persons, V, 3): keypoint (M, T, V, C) with the score as 3rd channel in 2D."""
    keypoint = np.asarray(annotation["keypoint"], dtype=np.float32)
    if keypoint.shape[-1] == 2:
        score = annotation.get("keypoint_score")
        score = np.ones(keypoint.shape[:-1], np.float32) if score is None else np.asarray(score, np.float32)
        keypoint = np.concatenate([keypoint, score[..., None]], axis=-1)
    frames = np.zeros((keypoint.shape[1], persons, *keypoint.shape[2:]), dtype=np.float32)
    frames[:, : keypoint.shape[0]] = keypoint[:persons].transpose(1, 0, 2, 3)
    return frames


def import_pyskl(path: Path, out: Path, layout: str | None, dataset: str | None, names_file: Path | None) -> dict:
    doc = load_pickle(path)
    if not isinstance(doc, dict) or "annotations" not in doc or "split" not in doc:
        raise InputFileError(path, "not a pyskl pickle", fix='expected a dict with "split" and "annotations"')
    annotations = doc["annotations"]
    first = np.asarray(annotations[0]["keypoint"])
    layout = choose_layout(path, first.shape[2], first.shape[3], layout)
    persons = max(np.shape(a["keypoint"])[0] for a in annotations)
    index = {a["frame_dir"]: i for i, a in enumerate(annotations)}
    splits: dict[str, dict[str, list[int]]] = {}
    for key, members in doc["split"].items():
        name, _, part = key.rpartition("_")
        if part not in ("train", "val", "test"):
            name, part = key, "train"
        splits.setdefault(name or key, {"train": [], "test": []})["train" if part == "train" else "test"] = \
            [index[m] for m in members if m in index]
    samples = ((a["frame_dir"], int(a["label"]), pyskl_frames(a, persons)) for a in annotations)
    class_names = class_names_for(names_file, int(max(a["label"] for a in annotations)) + 1)
    meta = {"dataset": dataset or path.stem, "layout": layout, "num_classes": len(class_names),
            "class_names": class_names,
            "source": {"raw": str(path.resolve()), "format": "pyskl", "files": 1},
            "preprocessing": {"imported_from": "pyskl", "persons": persons,
                              "channels": "x y z" if first.shape[3] == 3 else "x y score"},
            "skipped": []}
    write_skeleton_set(out, samples, splits=splits, meta=meta, num_persons=persons,
                       num_joints=first.shape[2], channels=3)
    return {**meta, "num_samples": len(annotations),
            "splits_summary": [f"{k} train {len(v['train'])} / test {len(v['test'])}" for k, v in splits.items()]}


def import_pstl(path: Path, out: Path, layout: str | None, dataset: str | None, names_file: Path | None) -> dict:
    folder = path if path.is_dir() else path.parent
    parts = []
    for part, prefix in (("train", "train"), ("test", "val")):
        data_file, label_file = folder / f"{prefix}_data_joint.npy", folder / f"{prefix}_label.pkl"
        for f in (data_file, label_file):
            if not f.exists():
                raise InputFileError(f, "not found", fix="a PSTL/AimCLR folder holds {train,val}_data_joint.npy and _label.pkl")
        x = np.load(data_file, mmap_mode="r")
        if x.ndim != 5:
            raise InputFileError(data_file, f"shape {x.shape}, expected (N, C, T, V, M)")
        names, labels = load_pickle(label_file)
        if len(names) != x.shape[0]:
            raise InputFileError(label_file, f"{len(names)} names for {x.shape[0]} samples in {data_file.name}")
        parts.append((part, np.asarray(x).transpose(0, 2, 4, 3, 1), [str(n) for n in names], np.asarray(labels)))
    coords = parts[0][1].shape[-1]
    layout = choose_layout(folder, parts[0][1].shape[3], coords, layout)
    num_classes = int(max(p[3].max() for p in parts)) + 1
    return _write(out, parts, split_name(folder.name), layout=layout, dataset=dataset or folder.parent.name.lower(),
                  path=folder, class_names=class_names_for(names_file, num_classes), fmt="pstl")


PSTL_PARTS = (("train", "train"), ("test", "val"))  # our part -> PSTL's file prefix


def export_pstl(path: str | Path, out: str | Path, data: DataConfig) -> dict:
    """A prepared set's `data.split` as PSTL's feeder (its dataset.py) reads it: `{train,val}_data_joint.npy`
    float32 (N, C, T, V, M) and `{train,val}_label.pkl` = (names, labels), plus `pstl_export.json`.

    PSTL reads fixed-length clips (AimCLR's preparation resizes every NTU sample to 50 frames) and
    augments them itself, so both parts are written as our evaluation clips: `data.normalise`, then
    `data.window` frames (evenly spaced for `sampling: uniform`, the centre crop resized otherwise),
    the first `data.persons` persons. `asma data import pstl` reads the folder back.
    """
    source, out = SkeletonSet.open(path), Path(out)
    if data.stream != "joint":
        raise InputFileError(source.root, f"data.stream is {data.stream}; PSTL reads joints and computes its streams itself")
    counts = {}
    with atomic_directory(out) as staging:
        for part, prefix in PSTL_PARTS:
            indices = source.split_indices(data.split, data.train_part if part == "train" else data.test_part)
            clips = SkeletonClips(source, indices, window=data.window, persons=data.persons, train=False,
                                  crop_max=data.crop_max, sampling=data.sampling, normalise=data.normalise)
            x = np.stack([clips.clip(i) for i in range(len(clips))]) if len(clips) else \
                np.zeros((0, source.meta["channels"], data.window, source.meta["num_joints"], data.persons), np.float32)
            np.save(staging / f"{prefix}_data_joint.npy", x)
            names, labels = [source.names[i] for i in indices], [int(y) for y in clips.labels]
            (staging / f"{prefix}_label.pkl").write_bytes(pickle.dumps((names, labels)))
            counts[part] = len(indices)
        meta = {"source": str(source.root.resolve()), "dataset": source.meta.get("dataset"), "layout": source.meta["layout"],
                "num_classes": source.num_classes, "class_names": source.class_names, "split": data.split,
                "samples": counts, "clip": {"window": data.window, "persons": data.persons, "sampling": data.sampling,
                                            "crop_max": data.crop_max, "normalise": data.normalise.model_dump()}}
        write_json_atomic(staging / "pstl_export.json", meta)
    return meta


def import_external(fmt: str, path: str | Path, out: str | Path, *, layout: str | None = None,
                    dataset: str | None = None, class_names: str | Path | None = None) -> dict:
    """Convert `path` in format `fmt` (one of FORMATS) into a prepared set at `out`; returns its meta.

    class_names: a text file naming the classes, one a line, line 1 for label 0 (default: "0", "1", ...)."""
    path, out = Path(path), Path(out)
    if not path.exists():
        raise InputFileError(path, "not found")
    importer = {"ctrgcn-npz": import_ctrgcn_npz, "pyskl": import_pyskl, "pstl": import_pstl}[fmt]
    return importer(path, out, layout, dataset, Path(class_names) if class_names else None)
