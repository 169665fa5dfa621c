"""Run tracking: one `Tracker` a run logs its scalars through, to TensorBoard, MLflow, W&B or nowhere (trackers.py)."""
