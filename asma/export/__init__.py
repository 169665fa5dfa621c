"""Deploying a distilled student: TorchScript, ONNX and int8 files, each checked against PyTorch."""
