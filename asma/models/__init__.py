"""Encoders (ST-GCN), the Barlow Twins projector, the alignment module and the pretraining model."""
