"""Shared fixtures."""
from __future__ import annotations

import pytest

RAY_FIXTURES = {"ray_session", "undisturbed_two_workers"}


def pytest_collection_modifyitems(items):
    """A test that takes a Ray fixture is `slow` (it starts Ray), marked or not: `make test-fast`
    leaves out every test that starts Ray or another process."""
    for item in items:
        if RAY_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


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


@pytest.fixture(scope="session")
def undisturbed_two_workers(ray_session, tmp_path_factory):
    """A 2-worker Ray Train run of 4 smoke epochs (global batch 32 = 2 x 16) that nothing disturbs:
    what every restart test compares with (tests/test_ray_train.py, tests/test_cluster_faults.py)."""
    from asma.evaluation.proxy import proxy_knn
    from asma.training.ray_trainer import pretrain_on_ray
    from test_ray_train import smoke

    tmp_path = tmp_path_factory.mktemp("uninterrupted")
    return pretrain_on_ray(smoke(tmp_path, "two", "train.epochs=4", "ray.workers=2"), proxy=proxy_knn)
