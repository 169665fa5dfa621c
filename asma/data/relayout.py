"""A prepared set in another joint order: the same joints, re-ordered by name into another layout.

Kinect v1 skeletons come in more than one order: MSR Action3D's authors re-ordered the SDK's 20
joints (and call the shoulder centre "neck"); UTKinect, NW-UCLA and MSRC-12 keep the SDK order.
Encoders pretrained on one order read another only after the joints are put in their order, so a
transfer to MSR Action3D from an MSRC-12 encoder goes through `asma data relayout`. Joints are
matched by name (JOINT_ALIASES gives the other names of one joint); every joint of the target
layout must be found, or the error names the ones that are not.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from asma.data.format import SkeletonSet, write_skeleton_set
from asma.errors import InputFileError
from asma.skeleton.layout import Layout, load_layout

# another name of one joint -> the name the built-in layouts use for it
JOINT_ALIASES = {"neck": "shoulder_center", "spine_shoulder": "shoulder_center", "spine_base": "hip_center",
                 "spine_mid": "spine"}


def canonical(joint: str) -> str:
    name = joint.lower().replace(" ", "_").replace("-", "_")
    return JOINT_ALIASES.get(name, name)


def joint_order(source: Layout, target: Layout, where: Path) -> np.ndarray:
    """Index into the source's joints of each target joint, in the target's order."""
    index = {canonical(j): i for i, j in enumerate(source.joints)}
    missing = [j for j in target.joints if canonical(j) not in index]
    if missing:
        raise InputFileError(where, f"layout {source.name!r} has no joint named {', '.join(missing)} of "
                             f"layout {target.name!r}", fix="relayout needs the same joints under the same names "
                             f"(aliases: {', '.join(f'{a}={b}' for a, b in JOINT_ALIASES.items())})")
    return np.array([index[canonical(j)] for j in target.joints], dtype=np.int64)


def relayout(source_dir: str | Path, layout: str, out: str | Path) -> Path:
    """Write the set at `source_dir` with its joints in `layout`'s order to `out` (atomically)."""
    source = SkeletonSet.open(source_dir)
    target = load_layout(layout)
    order = joint_order(source.layout, target, source.root / "meta.json")
    meta = {k: v for k, v in source.meta.items()
            if k not in ("format", "version", "num_samples", "num_frames", "num_persons", "num_joints", "channels")}
    meta["layout"] = layout if not Path(layout).suffix else str(Path(layout).resolve())
    meta["relayout"] = {"from": str(source.root.resolve()), "from_layout": source.meta["layout"],
                        "joint_order": order.tolist()}
    samples = ((name, int(label), np.asarray(source.sample(i))[:, :, order])
               for i, (name, label) in enumerate(zip(source.names, source.labels)))
    return write_skeleton_set(out, samples, splits=source.splits, meta=meta, num_persons=int(source.meta["num_persons"]),
                              num_joints=len(target.joints), channels=int(source.meta["channels"]))
