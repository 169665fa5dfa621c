"""A seeded synthetic skeleton set in the standard format, for tests, smoke runs and laptops.

Bodies are built from a layout: a rest pose in metres (x right, y up, z away from the camera, as
Kinect), scaled per subject. Each class is a motion made of limb rotations about their root joint
(shoulder, hip, pelvis), so bone lengths stay fixed, with its own rhythm, amplitude and phase;
the two-person classes move a second body towards or away from the first. Every sample varies
speed, amplitude, body size, camera yaw, position and sensor noise, and its length, and is done
with the left or the right side at random: no class is told apart by which side moves, as in NTU
("wave" is either hand), and the flip augmentation maps no class onto another (v1 had "wave right
hand" and "wave left hand"). `view_jitter_deg` widens the spread of camera angles: a harder set for
encoders that are not rotation-invariant (docs/method.md, "Frozen evaluation and the random-init floor").

Sample names follow NTU's `SsssCcccPpppRrrrAaaa` (camera C, subject P, action A), and the splits
are NTU's two protocols: `xsub` (odd subjects train) and `xview` (cameras 2, 3 train).
"""
from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from asma.data.format import write_skeleton_set
from asma.data.readers.base import validation_split
from asma.errors import ConfigError
from asma.skeleton.layout import Layout, load_layout

FPS = 30.0
NUM_SUBJECTS = 10
CAMERA_YAW_DEG = {1: -45.0, 2: 0.0, 3: 45.0}  # camera 1 is the xview test view, as in NTU
GENERATOR_VERSION = 3  # bump when the motions or splits change, so cached sets are regenerated

# Rest pose by joint name, metres relative to the pelvis; the names cover the built-in layouts.
_SPINE = {"base_of_spine": (0, 0, 0), "hip_center": (0, 0, 0), "middle_of_spine": (0, 0.28, 0),
          "spine": (0, 0.28, 0), "spine_shoulder": (0, 0.50, 0), "shoulder_center": (0, 0.50, 0),
          "neck": (0, 0.56, 0), "head": (0, 0.72, 0), "nose": (0, 0.68, -0.09)}
_LEFT = {"shoulder": (0.18, 0.48, 0), "elbow": (0.22, 0.20, 0), "wrist": (0.24, -0.04, 0),
         "hand": (0.245, -0.11, 0), "hand_tip": (0.25, -0.19, 0), "thumb": (0.22, -0.12, -0.03),
         "hip": (0.09, -0.02, 0), "knee": (0.10, -0.43, 0), "ankle": (0.10, -0.84, 0),
         "foot": (0.10, -0.89, -0.11), "eye": (0.03, 0.72, -0.08), "ear": (0.07, 0.70, 0)}
REST_POSE = {**_SPINE, **{f"left_{k}": v for k, v in _LEFT.items()},
             **{f"right_{k}": (-x, y, z) for k, (x, y, z) in _LEFT.items()}}


@dataclass(frozen=True)
class Move:
    """One movement of a body part: a rotation about `axis` at the part's root joint, or a
    translation along `axis` ('tx', 'ty', 'tz'), of `base + amp * profile(phase)`."""

    part: str      # left_arm, right_arm, left_leg, right_leg, upper_body, body
    axis: str      # x, y, z (rotation) or tx, ty, tz (translation, metres)
    base: float
    amp: float
    profile: str = "sin"   # sin, abs (rectified: kicks, jumps), smooth (0..1..0), ramp (0..1)
    freq: float = 1.0      # relative to the class rhythm
    phase: float = 0.0


@dataclass(frozen=True)
class Motion:
    """The moves of person 1 and, for a two-person class, of a partner who stands
    `partner_distance` metres to the side facing person 1 (the partner's forward is its -z)."""

    person1: tuple[Move, ...]
    partner: tuple[Move, ...] = ()
    partner_distance: float = 1.0


# Defined on the right side; each sample is mirrored (left side) with probability 1/2.
MOTIONS: dict[str, Motion] = {
    "wave_hand": Motion((Move("right_arm", "z", -2.3, 0.45),)),
    "kick": Motion((Move("right_leg", "x", 0.0, 1.1, "abs"),)),
    "bend_down": Motion((Move("upper_body", "x", 0.0, -1.2, "smooth"),)),
    "approach": Motion((Move("upper_body", "y", 0.0, 0.1),),
                       (Move("left_leg", "x", 0.0, 0.45, freq=2), Move("right_leg", "x", 0.0, -0.45, freq=2),
                        Move("body", "tz", 0.0, -1.0, "ramp")), partner_distance=1.7),
    "jump": Motion((Move("left_arm", "z", 0.0, 2.4, "abs"), Move("right_arm", "z", 0.0, -2.4, "abs"),
                    Move("body", "ty", 0.0, 0.3, "abs"))),
    "clap": Motion((Move("left_arm", "x", 1.3, 0.0), Move("right_arm", "x", 1.3, 0.0),
                    Move("left_arm", "y", -0.45, 0.4, freq=2), Move("right_arm", "y", 0.45, -0.4, freq=2))),
    "punch": Motion((Move("right_arm", "x", 0.6, 1.0, "abs"), Move("upper_body", "y", 0.0, -0.3, "abs"))),
    "push_away": Motion((Move("left_arm", "x", 0.8, 0.7, "smooth"), Move("right_arm", "x", 0.8, 0.7, "smooth")),
                        (Move("body", "tz", 0.0, 0.8, "ramp"), Move("upper_body", "x", 0.0, 0.4, "smooth")),
                        partner_distance=0.75),
    "twist": Motion((Move("upper_body", "y", 0.0, 0.7),)),
    "walk": Motion((Move("left_leg", "x", 0.0, 0.5), Move("right_leg", "x", 0.0, -0.5),
                    Move("left_arm", "x", 0.0, -0.4), Move("right_arm", "x", 0.0, 0.4),
                    Move("body", "tx", -0.6, 1.2, "ramp"))),
    "raise_hand": Motion((Move("right_arm", "z", 0.0, -2.6, "smooth", freq=0.5),)),
    "arm_circles": Motion((Move("right_arm", "z", -0.9, 0.5), Move("right_arm", "x", 0.0, 0.8, phase=np.pi / 2))),
}


def rest_pose(layout: Layout) -> np.ndarray:
    """(V, 3) rest pose in metres; a joint the table does not know sits 5 cm beyond its parent."""
    pose = np.full((layout.num_joints, 3), np.nan)
    for v, name in enumerate(layout.joints):
        if name in REST_POSE:
            pose[v] = REST_POSE[name]
    parents = layout.bone_parents
    for _ in range(layout.num_joints):  # unknown joints follow their parent down the tree
        unknown = np.isnan(pose[:, 0])
        if not unknown.any():
            break
        pose[unknown] = pose[parents[unknown]] + (0.0, -0.05, 0.0)
    if np.isnan(pose).any():
        raise ConfigError(f"layout {layout.name}", "joints", "no rest pose can be built: name its joints as ntu25 does")
    return pose


@dataclass(frozen=True)
class BodyParts:
    """Joint index arrays of the moving parts and the joint each part turns about."""

    joints: dict[str, np.ndarray]
    pivot: dict[str, int]

    @classmethod
    def of(cls, layout: Layout) -> "BodyParts":
        if not {"left_arm", "right_arm", "left_leg", "right_leg"} <= layout.parts.keys():
            raise ConfigError(f"layout {layout.name}", "parts", "synthetic motion needs left/right arm and leg parts")
        adjacency = layout.adjacency.astype(bool)
        joints, pivot = {}, {}
        for part in ("left_arm", "right_arm", "left_leg", "right_leg"):
            members = np.asarray(layout.parts[part])
            outside = ~np.isin(np.arange(layout.num_joints), members)
            # the root is the limb joint bonded to the trunk (shoulder, hip)
            pivot[part] = int(members[adjacency[members][:, outside].any(axis=1)][0])
            joints[part] = members
        hip = pivot["left_leg"]
        pelvis = int(np.flatnonzero(adjacency[hip] & ~np.isin(np.arange(layout.num_joints), layout.parts["left_leg"]))[0])
        legs = np.concatenate([joints["left_leg"], joints["right_leg"]])
        joints["upper_body"] = np.setdiff1d(np.arange(layout.num_joints), np.append(legs, pelvis))
        pivot["upper_body"] = pelvis
        joints["body"] = np.arange(layout.num_joints)
        pivot["body"] = pelvis
        return cls(joints, pivot)


def rotations(axis: str, angles: np.ndarray) -> np.ndarray:
    """(T,) angles in radians about one coordinate axis -> (T, 3, 3) rotation matrices."""
    c, s = np.cos(angles), np.sin(angles)
    i, j = {"x": (1, 2), "y": (2, 0), "z": (0, 1)}[axis]
    r = np.zeros((angles.size, 3, 3))
    r[:, range(3), range(3)] = 1.0
    r[:, i, i], r[:, i, j], r[:, j, i], r[:, j, j] = c, -s, s, c
    return r


def move_profile(kind: str, phase: np.ndarray, progress: np.ndarray) -> np.ndarray:
    if kind == "sin":
        return np.sin(phase)
    if kind == "abs":
        return np.abs(np.sin(phase))
    if kind == "smooth":
        return 0.5 - 0.5 * np.cos(phase)
    if kind == "ramp":
        return progress
    raise ValueError(f"unknown profile {kind!r}")


def animate(rest: np.ndarray, parts: BodyParts, moves: tuple[Move, ...], t: np.ndarray,
            rhythm_hz: float, phase: float, amp_scale: float) -> np.ndarray:
    """(V, 3) rest pose -> (T, V, 3) frames; moves apply in order, limbs before the trunk."""
    pos = np.broadcast_to(rest, (t.size, *rest.shape)).copy()
    progress = t / max(t[-1], 1e-6)
    for m in moves:
        wave = move_profile(m.profile, 2 * np.pi * rhythm_hz * m.freq * t + phase + m.phase, progress)
        value = m.base + amp_scale * m.amp * wave
        idx = parts.joints[m.part]
        if m.axis.startswith("t"):
            pos[:, idx, "xyz".index(m.axis[1])] += value[:, None]
            continue
        pivot = pos[:, parts.pivot[m.part]][:, None]
        pos[:, idx] = pivot + np.einsum("tij,tvj->tvi", rotations(m.axis, value), pos[:, idx] - pivot)
    return pos


def class_motions(num_classes: int, persons: int, seed: int) -> list[dict]:
    """Class -> motions and rhythm; beyond the library size classes combine two motions."""
    library = [k for k, motion in MOTIONS.items() if persons == 2 or not motion.partner]
    rng = np.random.default_rng([seed, 7919])
    classes = []
    for c in range(num_classes):
        names = [library[c % len(library)]]
        if c >= len(library):
            names.append(library[(c // len(library) + c) % len(library)])
        classes.append({"name": "+".join(names) + (f"#{c // len(library)}" if c >= len(library) else ""),
                        "motions": names, "rhythm_hz": float(rng.uniform(0.5, 1.4)),
                        "phase": float(rng.uniform(0, 2 * np.pi))})
    return classes


def synthesize_sample(rng: np.random.Generator, rest: np.ndarray, parts: BodyParts, spec: dict,
                      length: int, body_scale: float, camera_yaw: float, persons: int,
                      coord_dims: int, origin: int, flip: np.ndarray, view_jitter_deg: float = 5.0) -> np.ndarray:
    """One sample (T, M, V, C) in camera coordinates, centred on the first frame's origin joint;
    `flip` is the layout's left/right joint permutation (the mirrored half of the samples)."""
    t = np.arange(length) / FPS
    speed, amp = rng.uniform(0.8, 1.25), rng.uniform(0.8, 1.2)
    phase = spec["phase"] + rng.normal(0, 0.3)
    motions = [MOTIONS[name] for name in spec["motions"]]
    rhythm = spec["rhythm_hz"] * speed
    bodies = np.zeros((length, persons, rest.shape[0], 3))
    person1 = tuple(m for motion in motions for m in motion.person1)
    bodies[:, 0] = animate(rest * body_scale, parts, person1, t, rhythm, phase, amp)
    partner = tuple(m for motion in motions for m in motion.partner)
    if partner and persons == 2:
        distance = next(motion.partner_distance for motion in motions if motion.partner)
        pose = animate(rest * rng.uniform(0.85, 1.15), parts, partner, t, rhythm, phase, amp)
        facing = rotations("y", np.array([np.pi / 2]))[0]  # the partner's forward (-z) becomes -x
        bodies[:, 1] = pose @ facing.T + (distance, 0.0, 0.0)
    if rng.random() < 0.5:  # done with the left side: the mirror image, partner on the other side
        bodies = bodies[:, :, flip] * (-1.0, 1.0, 1.0)
    yaw = np.deg2rad(camera_yaw + rng.normal(0, view_jitter_deg))
    placement = np.array([rng.uniform(-0.5, 0.5), rng.uniform(-0.1, 0.1), rng.uniform(2.5, 3.5)])
    present = bodies.any(axis=(2, 3))  # (T, M): a missing second person stays all zeros
    frames = bodies @ rotations("y", np.array([yaw]))[0].T + placement
    frames += rng.normal(0, 0.008, frames.shape)
    frames -= frames[0, 0, origin]
    frames *= present[:, :, None, None]
    if coord_dims == 2:  # 2D layouts store (x, y, score)
        frames[..., 2] = present[:, :, None].astype(float)
    return frames.astype(np.float32)


def make_synthetic(out: str | Path, num_classes: int = 10, samples_per_class: int = 40, persons: int = 2,
                   seed: int = 0, layout: str = "ntu25", min_len: int = 40, max_len: int = 120,
                   view_jitter_deg: float = 5.0, keep_existing: bool = False) -> Path:
    """Write a synthetic set to `out`: samples (T, M=persons, V, C=3), splits xsub and xview and
    their validation splits xsub_val and xview_val.

    keep_existing: where a set is already at `out` when this one is done, keep it (a cache).

    `view_jitter_deg`: the spread (std) of each sample's camera yaw about its camera's angle; a
    wider spread makes the set harder for encoders that are not rotation-invariant."""
    if not 0 <= view_jitter_deg <= 90:
        raise ConfigError("synthetic", "view_jitter_deg", f"must be in [0, 90] degrees, got {view_jitter_deg}")
    if not 1 <= persons <= 2:
        raise ConfigError("synthetic", "persons", f"must be 1 or 2, got {persons}")
    if not 2 <= min_len <= max_len:
        raise ConfigError("synthetic", "min_len/max_len", f"need 2 <= min_len <= max_len, got {min_len}, {max_len}")
    lay = load_layout(layout)
    rest, parts = rest_pose(lay), BodyParts.of(lay)
    classes = class_motions(num_classes, persons, seed)
    rng = np.random.default_rng(seed)
    subject_scale = rng.uniform(0.85, 1.15, NUM_SUBJECTS + 1)
    labels = np.repeat(np.arange(num_classes), samples_per_class)
    subjects = rng.integers(1, NUM_SUBJECTS + 1, labels.size)
    cameras = rng.integers(1, 4, labels.size)
    lengths = rng.integers(min_len, max_len + 1, labels.size)

    def samples():
        for i, c in enumerate(labels):
            frames = synthesize_sample(rng, rest, parts, classes[c], int(lengths[i]), subject_scale[subjects[i]],
                                       CAMERA_YAW_DEG[int(cameras[i])], persons, lay.coord_dims, lay.origin,
                                       lay.flip_permutation, view_jitter_deg)
            name = f"S001C{cameras[i]:03d}P{subjects[i]:03d}R{i % samples_per_class + 1:03d}A{c + 1:03d}"
            yield name, int(c), frames

    index = np.arange(labels.size)
    splits = {"xsub": {"train": index[subjects % 2 == 1].tolist(), "test": index[subjects % 2 == 0].tolist()},
              "xview": {"train": index[cameras != 1].tolist(), "test": index[cameras == 1].tolist()}}
    # validation splits for searches: xsub's training subjects with every fifth held out; xview's
    # training cameras' clips of those same held-out subjects (no camera is left to hold out)
    subject_of = dict(zip(index.tolist(), subjects.tolist()))
    splits["xsub_val"] = validation_split(list(index), subject_of.__getitem__, splits["xsub"])
    held_out = {subject_of[i] for i in splits["xsub_val"]["test"]}
    splits["xview_val"] = {"train": [i for i in splits["xview"]["train"] if subject_of[i] not in held_out],
                           "test": [i for i in splits["xview"]["train"] if subject_of[i] in held_out]}
    options = dict(num_classes=num_classes, samples_per_class=samples_per_class, persons=persons, seed=seed,
                   layout=layout, min_len=min_len, max_len=max_len, view_jitter_deg=view_jitter_deg)
    # a layout YAML's path, not its name: the writer copies the file into the set (asma/data/format.py)
    meta = {"dataset": "synthetic", "layout": layout if Path(layout).suffix else lay.name, "num_classes": num_classes,
            "class_names": [c["name"] for c in classes],
            "source": {"generator": f"asma.data.synthetic v{GENERATOR_VERSION}", "files": 0, **options},
            "preprocessing": {**options, "fps": FPS, "centred_on": "first frame of person 1, layout origin",
                              "noise_std_m": 0.008, "camera_yaw_deg": CAMERA_YAW_DEG,
                              "mirrored_share": 0.5},
            "skipped": []}
    return write_skeleton_set(out, samples(), splits=splits, meta=meta, num_persons=persons,
                              num_joints=lay.num_joints, channels=3, keep_existing=keep_existing)


def ensure_synthetic(cache_dir: str | Path, **kwargs) -> Path:
    """The synthetic set for these arguments under `cache_dir`, generated on first use."""
    options = {"version": GENERATOR_VERSION, **kwargs}
    key = hashlib.sha1(json.dumps(options, sort_keys=True).encode()).hexdigest()[:10]
    out = Path(cache_dir) / f"synthetic-{key}"
    if not (out / "meta.json").exists():  # meta.json is written last, inside an atomic rename
        if out.is_dir() and not (out / "meta.json").exists():  # ours move in whole: a stale folder
            shutil.rmtree(out, ignore_errors=True)
        # processes that start together (a pool's workers, Tune's trials) may all build it: the
        # first set moved in stays, so none of them has the set it opened replaced under it
        make_synthetic(out, keep_existing=True, **kwargs)
    return out
