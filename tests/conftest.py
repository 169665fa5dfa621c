"""Shared fixtures."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def ray_session():
    """One small local Ray for every test that needs one (starting Ray costs seconds)."""
    import ray

    started = not ray.is_initialized()
    if started:
        ray.init(address="local", num_cpus=2, object_store_memory=300 * 1024**2, include_dashboard=False)
    yield ray
    if started:
        ray.shutdown()
