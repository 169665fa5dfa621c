"""Regenerate the trimmed KubeRay CRD schemas that tests/test_cluster_manifests.py validates against.

Source: ray-project/kuberay, helm-chart/kuberay-operator/crds/ray.io_{rayjobs,rayclusters}.yaml,
Copyright The KubeRay Authors, Apache License 2.0 (https://www.apache.org/licenses/LICENSE-2.0).
Modified here: descriptions removed; Kubernetes pod-template internals below the container
fields we write (name, image, command, args, env, resources, ports, volumeMounts), the
operator-written status and networkPolicy cut to their types, so the files stay small
(1.4 MB -> about 40 KB). Everything KubeRay defines itself (RayJob and RayCluster fields,
head/worker groups, rayStartParams, authOptions) is kept verbatim. Made from kuberay commit
feeaf72facab4881ba2b179248bb67315634e229 (2026-08-19).

    python tests/data/make_kuberay_schemas.py PATH/TO/kuberay/helm-chart/kuberay-operator/crds
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

SOURCE = "ray-project/kuberay helm-chart/kuberay-operator/crds (Apache-2.0, The KubeRay Authors)"
CONTAINER_FIELDS = {"name", "image", "imagePullPolicy", "command", "args", "env", "resources",
                    "ports", "volumeMounts", "lifecycle"}


def without_descriptions(node):
    if isinstance(node, dict):
        return {k: without_descriptions(v) for k, v in node.items() if k != "description"}
    if isinstance(node, list):
        return [without_descriptions(v) for v in node]
    return node


def stub(node: dict) -> dict:
    """Keep only a field's type: its inside is Kubernetes', not KubeRay's, and not ours to check."""
    out = {k: node[k] for k in ("type", "x-kubernetes-int-or-string") if k in node}
    if out.get("type") in ("object", "array"):
        out["x-kubernetes-preserve-unknown-fields"] = True
    return out


def capped(node: dict, depth: int) -> dict:
    if depth == 0:
        return stub(node)
    out = dict(node)
    if "properties" in node:
        out["properties"] = {k: capped(v, depth - 1) for k, v in node["properties"].items()}
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            out[key] = capped(node[key], depth)
    return out


def is_pod_template(node: dict) -> bool:
    spec = node.get("properties", {}).get("spec", {})
    return "metadata" in node.get("properties", {}) and "containers" in spec.get("properties", {})


def trimmed_pod_spec(spec: dict) -> dict:
    out = dict(spec, properties={})
    for key, field in spec["properties"].items():
        if key == "containers":
            item = field["items"]
            kept = {k: capped(v, 4) for k, v in item["properties"].items() if k in CONTAINER_FIELDS}
            others = {k: stub(v) for k, v in item["properties"].items() if k not in CONTAINER_FIELDS}
            field = dict(field, items=dict(item, properties={**others, **kept}))
        elif key in ("nodeSelector", "serviceAccountName", "restartPolicy"):
            field = capped(field, 2)
        else:
            field = stub(field)
        out["properties"][key] = field
    return out


def trim(node):
    if isinstance(node, list):
        return [trim(v) for v in node]
    if not isinstance(node, dict):
        return node
    if is_pod_template(node):
        props = dict(node["properties"], spec=trimmed_pod_spec(node["properties"]["spec"]))
        return dict(node, properties=props)
    return {k: trim(v) for k, v in node.items()}


def v1_schema(crd_path: Path) -> dict:
    crd = yaml.safe_load(crd_path.read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    schema = trim(without_descriptions(version["schema"]["openAPIV3Schema"]))
    # status is written by the operator, networkPolicy is Kubernetes' own NetworkPolicy rules
    schema["properties"]["status"] = stub(schema["properties"]["status"])
    spec = schema["properties"]["spec"]["properties"]
    cluster = spec["rayClusterSpec"]["properties"] if "rayClusterSpec" in spec else spec
    cluster["networkPolicy"] = stub(cluster["networkPolicy"])
    return {"$comment": f"trimmed from {SOURCE}, {crd_path.name}; see make_kuberay_schemas.py", **schema}


def main(crds: Path) -> None:
    here = Path(__file__).parent
    for kind in ("rayjobs", "rayclusters"):
        schema = v1_schema(crds / f"ray.io_{kind}.yaml")
        out = here / f"kuberay_{kind}_v1.schema.json"
        out.write_text(json.dumps(schema, sort_keys=True, separators=(",", ":")) + "\n")
        print(f"{out}: {out.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
