"""Evaluation protocols: kNN, linear probe, fine-tuning, semi-supervised, transfer."""
