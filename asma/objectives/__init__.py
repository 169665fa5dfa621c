"""Losses: Barlow Twins, feature alignment, distillation."""
