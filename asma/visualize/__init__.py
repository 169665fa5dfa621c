"""Pictures: skeletons with their masked joints, motion curves with their masked frames."""
