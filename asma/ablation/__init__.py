"""Ablation studies: the study YAML (study.py), one run as a Tune trial (trial.py, evaluate.py), the grid runner (runner.py)."""
