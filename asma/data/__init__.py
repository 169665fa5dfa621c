"""Skeleton data: the standard on-disk format, readers, synthetic data, transforms, datasets."""
