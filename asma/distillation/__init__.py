"""Distillation: a pretrained run (the teacher), linear-probed by the evaluation protocols, taught to a lightweight student (distill.py)."""
