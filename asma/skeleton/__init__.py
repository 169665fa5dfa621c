"""Skeleton layouts (joints, bones, centre, flip pairs) and everything derived from the graph."""
from asma.skeleton.layout import Layout, available_layouts, load_layout

__all__ = ["Layout", "available_layouts", "load_layout"]
