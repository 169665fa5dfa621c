"""Joint and frame masks: PSTL's CSM/MATM, ASMa's asymmetric views, random and none.

One function per axis; a strategy is a value of its config, not a module of its own.
"""
from asma.masking.frames import frame_motion, frames_to_keep, gather_frames
from asma.masking.joints import joint_weights, joints_to_keep

__all__ = ["frame_motion", "frames_to_keep", "gather_frames", "joint_weights", "joints_to_keep"]
