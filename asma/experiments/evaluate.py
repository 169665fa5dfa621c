"""The evaluation step of an ablation run: the study's protocols on the pretrained encoders.

Every protocol runs through `asma.evaluation.protocols.run_protocols` (so `knn` and `linear` share
one set of frozen features, read after the encoders' BatchNorm statistics are estimated on the
training clips, as the floor's are); only an installation without asma.evaluation falls back to the
loop's own last-epoch kNN proxy for `knn`. run_protocols keeps its full record in
`<study dir>/evals/<run>.json`. Each protocol gives the report one column of top-1 accuracy (%);
`semi` gives one per labelled fraction (`semi_1%`, `semi_10%`), `random_init` is the linear
probe of randomly initialised encoders of the same config (the floor of the table), and `distill`
distils the run into the config's student (`asma.distillation.distill.distill_run`, with the from-scratch
baseline): columns `teacher_linear`, `student_distilled`, `student_scratch`.
"""
from __future__ import annotations

import importlib.util
import tempfile
from pathlib import Path

from asma.config.loading import apply_overrides, config_to_dict
from asma.config.schema import Config
from asma.distillation.distill import distill_run
from asma.errors import AsmaError, ConfigError
from asma.evaluation.protocols import EncoderSource, find_checkpoint, random_encoders, run_protocols
from asma.evaluation.proxy import proxy_knn
from asma.evaluation.raw_input import RAW_PROTOCOLS, raw_input_encoders
from asma.evaluation.results import stream_columns
from asma.models.pretrainer import MaskedPretrainer
from asma.training.data import RunData
from asma.training.runtime import save_checkpoint_file

LOOP_PROTOCOLS = ("knn",)


def protocols_available() -> bool:
    return importlib.util.find_spec("asma.evaluation.protocols") is not None


def check_protocols(protocols: list[str], source: str) -> None:
    """Fail before any run when a study asks for protocols this installation cannot run."""
    missing = [p for p in protocols if p not in LOOP_PROTOCOLS]
    if missing and not protocols_available():
        raise ConfigError(source, "protocols", f"{missing} need asma.evaluation.protocols, which is not "
                          f"installed; use protocols: [knn] (the pretraining loop's kNN proxy)")


def semi_column(fraction: str | float) -> str:
    return f"semi_{float(fraction) * 100:g}%"


def columns_of_record(record: dict) -> dict[str, float]:
    """{column: top-1} from a run_protocols record."""
    out: dict[str, float] = {}
    for name, result in record["protocols"].items():
        if name == "semi":
            out.update({semi_column(f): float(r["top1"]) for f, r in result["fractions"].items()})
        else:
            out[name] = float(result["top1"])
            out.update(stream_columns(name, result))
    return out


FROZEN_PROTOCOLS = ("linear", "knn")
# protocols that never read the pretrained encoders: a study of only these is a study of the
# supervised recipe, and its runs do not pretrain
WITHOUT_PRETRAINING = ("supervised",)


def needs_pretraining(protocols: list[str], teacher: str | None = None) -> bool:
    """Whether a run pretrains: not for protocols that never read its encoders, nor when it only
    distils a fixed teacher (`distill.teacher`)."""
    if teacher and list(protocols) == ["distill"]:
        return False
    return any(p not in WITHOUT_PRETRAINING for p in protocols)


def pretraining_epochs(spec: dict) -> int:
    """The epochs a study run pretrains (its spec, as the runner builds it): none for a reference
    row (floor, ceiling), a fixed teacher's distillation, or the supervised protocol alone."""
    teacher = spec["config"].get("distill", {}).get("teacher")
    if spec.get("reference") or not needs_pretraining(spec["protocols"], teacher):
        return 0
    return int(spec["config"]["train"]["epochs"])


def check_fixed_teacher(cfg: Config, protocols: list[str], where: str) -> None:
    """A run with `distill.teacher` distils that teacher and nothing else; the teacher must exist."""
    if not cfg.distill.teacher:
        return
    if list(protocols) != ["distill"]:
        raise ConfigError(where, "distill.teacher", f"a study whose runs distil a fixed teacher has protocols: "
                          f"[distill] only (got {protocols}); its runs do not pretrain")
    try:
        find_checkpoint(cfg.distill.teacher)
    except AsmaError as e:
        raise ConfigError(where, "distill.teacher", f"{cfg.distill.teacher}: {e}") from None


def evaluate_reference(cfg: Config, data: RunData, reference: str, protocols: list[str],
                       eval_path: Path) -> dict[str, float]:
    """A floor, raw-input or ceiling row: no pretraining. The raw-input row evaluates the clips
    themselves, with no encoder (asma.evaluation.raw_input), under the study's linear, knn and semi
    protocols. The floor evaluates randomly initialised frozen
    encoders under the study's frozen-feature protocols, and under `semi` trains them from scratch on
    the labelled share; the ceiling trains the same encoders with
    labels from scratch (the `supervised` protocol) and stands in each of those columns."""
    if reference == "raw":

        columns = [p for p in protocols if p in RAW_PROTOCOLS] or ["linear"]
        source = EncoderSource(raw_input_encoders(cfg, data), "raw-input reference", eval_path.parent)
        as_logistic_regression = apply_overrides(cfg, {"alignment.kind": "concat"})  # one linear layer on the clip
        return columns_of_record(run_protocols(as_logistic_regression, source, data, columns, console=None,
                                               out=eval_path))
    source = EncoderSource(random_encoders(cfg, data), f"{reference} reference", eval_path.parent)
    if reference == "floor":  # semi on random-init encoders: the same labelled share trained from scratch
        columns = [p for p in protocols if p in (*FROZEN_PROTOCOLS, "semi")] or ["linear"]
        return columns_of_record(run_protocols(cfg, source, data, columns, console=None, out=eval_path))
    columns = [p for p in protocols if p in FROZEN_PROTOCOLS] or ["linear"]
    record = run_protocols(cfg, source, data, ["supervised"], console=None, out=eval_path)
    return {p: float(record["protocols"]["supervised"]["top1"]) for p in columns}


def evaluate_run(cfg: Config, data: RunData, model: MaskedPretrainer, protocols: list[str],
                 final_metrics: dict, device, eval_path: Path) -> dict[str, float]:
    """{column: top-1 %} for the study's protocols, in the study's order."""
    results: dict[str, float] = {}
    from_loop = LOOP_PROTOCOLS if not protocols_available() else ()
    others = [p for p in protocols if p not in (*from_loop, "random_init", "distill")]
    if others:

        source = EncoderSource(model.encoders(), f"ablation run {cfg.name}", eval_path.parent, cfg.train.epochs)
        record = run_protocols(cfg, source, data, others, console=None, out=eval_path)
        results.update(columns_of_record({"protocols": {p: record["protocols"][p] for p in others}}))
    if "random_init" in protocols:

        source = EncoderSource(random_encoders(cfg, data), "random-init", eval_path.parent)
        record = run_protocols(cfg, source, data, ["linear"], console=None,
                               out=eval_path.with_name(f"{eval_path.stem}.random_init.json"))
        results["random_init"] = float(record["protocols"]["linear"]["top1"])
    if "distill" in protocols:
        results.update(distill_columns(cfg, model, eval_path))
    if "knn" in from_loop and "knn" in protocols:
        if "knn_top1" not in final_metrics:  # resumed after the last epoch: compute it again
            final_metrics = {**final_metrics, **proxy_knn(model, data, cfg, device)}
        results["knn"] = float(final_metrics["knn_top1"])
    order = {p: i for i, p in enumerate(protocols)}
    return dict(sorted(results.items(), key=lambda kv: order.get(_protocol_of(kv[0]), 0)))


def _protocol_of(column: str) -> str:
    if column.startswith("semi_"):
        return "semi"
    return "distill" if column.startswith(("teacher_", "student_")) else column


def distill_columns(cfg: Config, model: MaskedPretrainer | None, eval_path: Path) -> dict[str, float]:
    """Distil the pretrained model (saved as a teacher checkpoint for `distill_run`), or the fixed
    teacher `distill.teacher` names (model None), into the student; and train it from scratch."""
    only_heads = apply_overrides(cfg, {"eval.protocols": []})  # the student's own probes are not columns
    out = eval_path.with_name(f"{eval_path.stem}.student")
    if model is None:
        record = distill_run(only_heads, cfg.distill.teacher, out=out, baseline=True)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            teacher = Path(tmp) / "teacher.pt"
            save_checkpoint_file({"epoch": cfg.train.epochs, "model": model.state_dict(),
                                  "config": config_to_dict(cfg)}, teacher)
            record = distill_run(only_heads, teacher, out=out, baseline=True)
    return {"teacher_linear": float(record["teacher"]["linear"]["top1"]),
            "student_distilled": float(record["student"]["head"]["top1"]),
            "student_scratch": float(record["scratch"]["head"]["top1"])}
