"""Using a Ray cluster: what it holds, and whether a study's or config's requests fit it."""
