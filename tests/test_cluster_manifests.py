"""The cluster files in cluster/ against the schemas of the tools that read them.

`ray up` config: Ray's own ray-schema.json (shipped in the ray wheel) and Ray's config checks.
KubeRay RayJob / RayCluster: the v1 openAPIV3Schema of KubeRay's CRDs (trimmed copies in
tests/data, see tests/data/NOTICE), made strict like `kubectl apply --validate=strict`: an unknown
field is an error, not silently dropped.
"""
from __future__ import annotations

import copy
import json
import shlex
import subprocess
import tomllib
from pathlib import Path

import jsonschema
import pytest
import ray
import yaml

ROOT = Path(__file__).resolve().parents[1]
CLUSTER = ROOT / "cluster"
DATA = Path(__file__).parent / "data"
TORCH_PIN = "torch==2.13.0"


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def strict(schema):
    """Forbid fields a CRD does not define, unless it says it keeps unknown fields."""
    if isinstance(schema, list):
        return [strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: strict(v) for k, v in schema.items()}
    if ("properties" in schema and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


def crd_validator(kind: str) -> jsonschema.Draft7Validator:
    schema = strict(json.loads((DATA / f"kuberay_{kind}_v1.schema.json").read_text()))
    return jsonschema.Draft7Validator(schema)


def errors(validator: jsonschema.Draft7Validator, manifest: dict) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(manifest)]


@pytest.fixture(scope="module")
def rayjob() -> dict:
    return load(CLUSTER / "kuberay" / "rayjob-ablation.yaml")


@pytest.fixture(scope="module")
def raycluster() -> dict:
    return load(CLUSTER / "kuberay" / "raycluster.yaml")


# --- ray up ----------------------------------------------------------------------------------

def test_ray_up_config_passes_rays_schema_and_checks():
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = load(CLUSTER / "aws-gpu.yaml")
    schema = json.loads((Path(ray.__file__).parent / "autoscaler" / "ray-schema.json").read_text())
    jsonschema.validate(config, schema)
    validate_config(prepare_config(copy.deepcopy(config)))  # fills defaults the way `ray up` does


def test_ray_up_schema_check_can_fail():
    config = load(CLUSTER / "aws-gpu.yaml")
    config["available_node_types"]["gpu_1x"]["resource"] = {"GPU": 1}  # typo of `resources`
    schema = json.loads((Path(ray.__file__).parent / "autoscaler" / "ray-schema.json").read_text())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(config, schema)


def test_ray_up_config_installs_pinned_torch_gpu_workers_and_token_auth():
    config = load(CLUSTER / "aws-gpu.yaml")
    types = config["available_node_types"]
    assert config["head_node_type"] in types
    workers = {name: t for name, t in types.items() if name != config["head_node_type"]}
    assert workers and all(t["resources"].get("GPU", 0) >= 1 for t in workers.values())
    setup = config["setup_commands"]
    torch_at = next(i for i, c in enumerate(setup) if TORCH_PIN in c)
    package_at = next(i for i, c in enumerate(setup) if "pip install" in c and "/home/ray/asma" in c)
    assert torch_at < package_at, "torch must be pinned before the package's own install resolves it"
    assert "/home/ray/asma" in config["file_mounts"]
    for commands in (config["head_start_ray_commands"], config["worker_start_ray_commands"]):
        start = next(c for c in commands if "ray start" in c)
        assert "RAY_AUTH_MODE=token" in start
    # nodes run the client's Ray and Python: the job API refuses mismatched versions
    assert config["docker"]["image"].startswith(f"rayproject/ray:{ray.__version__}-py311")
    # the shared file system: mounted on the host and passed into the container at one path
    assert any("/mnt/efs" in c for c in config["initialization_commands"])
    assert "-v /mnt/efs:/mnt/efs" in config["docker"]["run_options"]


# --- KubeRay ---------------------------------------------------------------------------------

def test_rayjob_passes_the_kuberay_crd(rayjob):
    assert rayjob["apiVersion"] == "ray.io/v1" and rayjob["kind"] == "RayJob"
    assert errors(crd_validator("rayjobs"), rayjob) == []


def test_raycluster_passes_the_kuberay_crd(raycluster):
    assert raycluster["apiVersion"] == "ray.io/v1" and raycluster["kind"] == "RayCluster"
    assert errors(crd_validator("rayclusters"), raycluster) == []


@pytest.mark.parametrize("breakage, expected", [
    (lambda m: m["spec"].pop("shutdownAfterJobFinishes") and m["spec"].update(shutdownAfterJobFinish=True),
     "shutdownAfterJobFinish"),
    (lambda m: m["spec"]["rayClusterSpec"]["workerGroupSpecs"][0].pop("groupName"), "groupName"),
    (lambda m: m["spec"]["rayClusterSpec"]["headGroupSpec"]["rayStartParams"].update({"num-cpus": 0}), "string"),
    (lambda m: m["spec"]["rayClusterSpec"]["authOptions"].update(mode="tokens"), "tokens"),
])
def test_crd_check_catches_broken_rayjobs(rayjob, breakage, expected):
    broken = copy.deepcopy(rayjob)
    breakage(broken)
    found = errors(crd_validator("rayjobs"), broken)
    assert found and any(expected in e for e in found), found


def test_rayjob_required_fields_and_lifecycle(rayjob):
    spec = rayjob["spec"]
    assert spec["entrypoint"].strip() and yaml.safe_load(spec["runtimeEnvYAML"])
    assert spec["shutdownAfterJobFinishes"] is True and spec["ttlSecondsAfterFinished"] > 0
    cluster = spec["rayClusterSpec"]
    assert cluster["headGroupSpec"]["template"]["spec"]["containers"]
    for group in cluster["workerGroupSpecs"]:
        for key in ("groupName", "replicas", "minReplicas", "maxReplicas", "rayStartParams", "template"):
            assert key in group, key
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]


def test_rayjob_and_raycluster_describe_the_same_cluster(rayjob, raycluster):
    assert rayjob["spec"]["rayClusterSpec"] == raycluster["spec"]


def test_token_auth_on_and_gpu_workers_on_matching_images(raycluster):
    spec = raycluster["spec"]
    assert spec["authOptions"]["mode"] == "token" and spec["authOptions"]["secretName"]
    assert spec["rayVersion"] == ray.__version__
    pods = [spec["headGroupSpec"]["template"]] + [g["template"] for g in spec["workerGroupSpecs"]]
    for pod in pods:
        for container in pod["spec"]["containers"]:
            assert container["image"].startswith(f"rayproject/ray:{ray.__version__}-py311")
    for group in spec["workerGroupSpecs"]:
        (container,) = group["template"]["spec"]["containers"]
        assert int(container["resources"]["limits"]["nvidia.com/gpu"]) >= 1


def shared_mounts(pod: dict) -> dict[str, str]:
    """mount path -> PersistentVolumeClaim name, for the pod's claim-backed volumes."""
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"]
              for v in pod["spec"].get("volumes", []) if "persistentVolumeClaim" in v}
    return {m["mountPath"]: claims[m["name"]] for c in pod["spec"]["containers"]
            for m in c.get("volumeMounts", []) if m["name"] in claims}


def test_rayjob_entrypoint_is_a_valid_asma_command_writing_to_shared_storage(rayjob):
    from asma.cli.main import build_parser

    argv = shlex.split(rayjob["spec"]["entrypoint"])
    assert argv[:3] == ["python", "-m", "asma.cli.main"]
    args = build_parser().parse_args(argv[3:])
    assert args.address == "auto", "a job's driver must join its cluster, not start a Ray of its own"
    assert (ROOT / args.study).is_file()
    cluster = rayjob["spec"]["rayClusterSpec"]
    pods = [cluster["headGroupSpec"]["template"]] + [g["template"] for g in cluster["workerGroupSpecs"]]
    mounts = [shared_mounts(p) for p in pods]
    assert all(m == mounts[0] for m in mounts), "every pod must mount the same claim at the same path"
    claim = load(CLUSTER / "kuberay" / "shared-pvc.yaml")
    assert list(mounts[0].values()) == [claim["metadata"]["name"]]
    assert "ReadWriteMany" in claim["spec"]["accessModes"]
    (mount,) = mounts[0]
    assert Path(args.out).is_relative_to(mount), "trials on any pod must write where the driver reports"


# --- runtime environments --------------------------------------------------------------------

def project_dependency_names() -> set[str]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {d.split("[")[0].split(">")[0].split("<")[0].split("=")[0].strip().lower() for d in deps}
    return names - {"ray"}  # the node image provides Ray itself, at the client's version


def test_runtime_envs_pin_torch_cover_the_dependencies_and_agree(rayjob):
    from ray.runtime_env import RuntimeEnv

    submitted = load(CLUSTER / "runtime_env.yaml")
    in_rayjob = yaml.safe_load(rayjob["spec"]["runtimeEnvYAML"])
    RuntimeEnv(**submitted)  # Ray's own validation of the fields
    RuntimeEnv(**in_rayjob)
    packages = submitted["pip"]["packages"]
    assert packages[0] == TORCH_PIN
    named = {p.split(">")[0].split("=")[0].split("<")[0].lower() for p in packages}
    assert project_dependency_names() <= named, project_dependency_names() - named
    assert in_rayjob["pip"] == submitted["pip"]
    assert in_rayjob["working_dir"].endswith(".zip")  # KubeRay has no local folder to upload
    assert {".venv/", ".git/", "runs/", "data/"} <= set(submitted["excludes"])


@pytest.mark.slow  # bash -n, as a subprocess
def test_local_multi_gpu_script_is_valid_bash():
    script = CLUSTER / "local_multi_gpu.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)
    assert "--num-gpus" in script.read_text() and "RAY_AUTH_MODE=token" in script.read_text()
