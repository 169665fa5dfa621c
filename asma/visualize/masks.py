"""Draw what a view masks on one real sample.

For each view: the skeleton at a few frames (front projection) with joints coloured by how often
the view masks them (estimated over many draws) and one drawn mask marked; below, the per-frame
motion curve with the frames the view drops shaded.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from asma.config.schema import ViewMaskConfig
from asma.masking.frames import frame_motion, frames_to_keep
from asma.masking.joints import joints_to_keep
from asma.skeleton.layout import Layout

DRAWS_FOR_FREQUENCY = 4000


def joint_mask_frequency(view: ViewMaskConfig, layout: Layout, seed: int = 0) -> np.ndarray:
    """(V,) share of draws in which each joint is masked."""
    gen = torch.Generator().manual_seed(seed)
    keep = joints_to_keep(view.joints, torch.as_tensor(layout.degrees), DRAWS_FOR_FREQUENCY, gen)
    return (~keep).float().mean(0).numpy()


def dropped_frames(clip: torch.Tensor, view: ViewMaskConfig, seed: int = 0) -> np.ndarray:
    """(T,) bool, True where the view's temporal stream drops the frame of `clip` (C, T, V, M)."""
    gen = torch.Generator().manual_seed(seed)
    keep = frames_to_keep(clip[None], view.frames, gen)[0]
    dropped = np.ones(clip.shape[1], dtype=bool)
    dropped[keep.numpy()] = False
    return dropped


def plot_view_masks(clip: np.ndarray, layout: Layout, views: dict[str, ViewMaskConfig], out: str | Path,
                    title: str = "", frames_shown: int = 4, seed: int = 0) -> Path:
    """clip (C, T, V, M) of one sample -> a PNG with one row of panels per view."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = torch.as_tensor(clip, dtype=torch.float32)
    t = x.shape[1]
    motion = frame_motion(x[None])[0].numpy()
    shown = np.linspace(0, t - 1, frames_shown).round().astype(int)
    fig, axes = plt.subplots(len(views), frames_shown + 1, figsize=(2.4 * frames_shown + 5, 3.1 * len(views)),
                             gridspec_kw={"width_ratios": [1] * frames_shown + [2.2]}, squeeze=False)
    cmap = plt.get_cmap("Reds")
    for row, (name, view) in enumerate(views.items()):
        freq = joint_mask_frequency(view, layout, seed)
        drawn = ~joints_to_keep(view.joints, torch.as_tensor(layout.degrees), 1,
                                torch.Generator().manual_seed(seed))[0].numpy()
        dropped = dropped_frames(x, view, seed)
        by_motion = dropped_frames(x, view.model_copy(update={"frames": view.frames.model_copy(
            update={"random_ratio": 0.0})}), seed) if view.frames.mode in ("motion", "matm") else np.zeros_like(dropped)
        for col, f in enumerate(shown):
            ax = axes[row, col]
            pose = clip[:2, f, :, 0]  # x, y of the first person
            for a, b in layout.bones:
                ax.plot(pose[0, [a, b]], pose[1, [a, b]], color="0.55", lw=1.5, zorder=1)
            ax.scatter(pose[0], pose[1], c=freq, cmap=cmap, vmin=0, vmax=max(freq.max(), 1e-6),
                       s=36, edgecolors="k", linewidths=0.4, zorder=2)
            ax.scatter(pose[0, drawn], pose[1, drawn], marker="x", color="tab:blue", s=60, zorder=3)
            ax.set_title(f"frame {f}" + (" (dropped)" if dropped[f] else ""), fontsize=9)
            ax.set_aspect("equal")
            ax.axis("off")
        ax = axes[row, -1]
        ax.plot(np.arange(t), motion, color="k", lw=1.2)
        for f in np.flatnonzero(dropped):
            ax.axvspan(f - 0.5, f + 0.5, color="tab:orange", alpha=0.7 if by_motion[f] else 0.25, lw=0)
        ax.set_xlabel("frame")
        ax.set_ylabel("motion")
        ax.set_title(f"view {name}: {view.joints.mode}/{view.joints.target} joints, "
                     f"{view.frames.mode}/{view.frames.target} frames", fontsize=9)
        axes[row, 0].text(-0.1, 0.5, f"view {name}", transform=axes[row, 0].transAxes, rotation=90,
                          va="center", ha="right", fontsize=11, weight="bold")
    fig.suptitle(title + "  (red: how often a joint is masked; x: one draw; orange: dropped frames, dark = by motion, light = at random)", fontsize=10)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.partial{out.suffix}")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(out)
    return out
