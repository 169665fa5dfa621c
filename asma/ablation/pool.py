"""`asma pool`: a study's unfinished runs on one machine without Ray, several at once as plain processes.

For a machine with torch but neither Ray nor Optuna, or for a machine's spare cores beside a running
`asma ablate`. Two steps, which `asma pool run STUDY.yaml` does together:

  plan  writes the unfinished runs' specs, exactly as `asma ablate` makes them
        (asma.ablation.specs.run_specs: the same config, run ids and data fingerprint), into one
        JSON, in the order given. Runs of the same config in several studies are run once. A study
        that no `asma ablate` has started gets its study.json, which `asma report` and `asma status`
        read.
  run   runs each spec as a Tune trial does (asma.ablation.ablation_trial.execute_run) but in a LocalRuntime,
        and writes the trial's run record to <out>/ablations/<study>/runs/<run id>.json, with its
        evaluation record in <out>/ablations/<study>/evals/ (copied for the same run in other
        studies, as --reuse copies: asma.ablation.reuse.copy_run).

`asma ablate --resume` then skips those runs (their config and data fingerprint are the planned
ones; a trial Tune starts finds the record and repeats nothing) and `asma report` counts them. Each
record's `machine` says where it ran (device name, processes at once, `runner: asma pool`) and,
with --precision, the number type that
ran where it is not the planned one. Nothing here imports Ray or Optuna.
"""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

RUNNER = "asma pool"  # each record's machine.runner


def _config_key(spec: dict) -> str:
    config = dict(spec["config"])
    config.pop("out_dir", None)
    config.pop("name", None)  # <study>.<run id>
    return json.dumps([config, spec["protocols"], spec["reference"], spec["data_fingerprint"]], sort_keys=True)


def plan(studies: list[str], out: str | None, to: Path | None, datasets: list[str] | None) -> list[list[dict]]:
    """The unfinished runs of `studies` (STUDY.yaml[:SEEDS]) as groups of specs, one group a run and
    its copies in other studies, written to `to` when given. `out`: the studies' output root, as
    `asma ablate --out` (None: each study's out_dir)."""
    from asma.ablation.finished import finished_runs
    from asma.ablation.specs import in_seed_order, run_specs, study_dir, write_study_record
    from asma.ablation.study_file import load_study

    groups: dict[str, list[dict]] = {}
    finished_elsewhere: set[str] = set()  # done in one of the studies: `asma ablate --reuse` copies it
    loaded = []
    for item in studies:
        path, _, seeds = item.partition(":")
        study = load_study(path, seeds=int(seeds) if seeds else None)
        run_dir = study_dir(study, out)
        specs = run_specs(study, run_dir)
        for spec in specs.values():
            spec["config"]["out_dir"] = str(run_dir.parent.parent)
        if not (run_dir / "study.json").exists():  # a study no `asma ablate` started: `asma report` and `asma status` read it
            write_study_record(study, run_dir, specs)
        done = finished_runs(specs)
        finished_elsewhere |= {_config_key(specs[r]) for r in done}
        loaded.append((study, specs, done))
    for study, specs, done in loaded:
        pending = in_seed_order([r for r, s in specs.items() if r not in done
                                 and (not datasets or s["dataset"] in datasets)], specs)
        for spec in (specs[r] for r in pending):
            if _config_key(spec) in finished_elsewhere:
                continue
            spec["study"] = study.name
            groups.setdefault(_config_key(spec), []).append(spec)
    planned = list(groups.values())
    if to is not None:
        write_plan(planned, to)
    return planned


def write_plan(planned: list[list[dict]], to: Path) -> None:
    to.parent.mkdir(parents=True, exist_ok=True)
    to.write_text(json.dumps(planned, indent=1))
    print(f"{len(planned)} runs to do ({sum(len(g) for g in planned)} records) -> {to}")
    for group in planned:
        print("  " + " = ".join(f"{s['study']}/{s['run']}" for s in group))


def output_root(planned: list[list[dict]], out: str | None) -> Path:
    """Where the plan's records go: `out`, or the root its first study was planned for."""
    return Path(out) if out else Path(planned[0][0]["config"]["out_dir"])


def study_folder(spec: dict, out: str | None) -> Path:
    """<out>/ablations/<study>, the folder `asma ablate` writes (out None: the root the plan was made for)."""
    return Path(out or spec["config"]["out_dir"]) / "ablations" / spec["study"]


def _run_group(args: tuple[list[dict], str | None, str, int, str | None, str | None]) -> dict:
    """One run (and its copies' records), or its error as text: asma's errors need arguments to be
    rebuilt, so they do not cross a process boundary as exceptions."""
    try:
        return _run_one(*args)
    except Exception as e:
        import traceback

        return {"run": args[0][0]["run"], "error": f"{type(e).__name__}: {e}",
                "traceback": traceback.format_exc(limit=-3)}


def _run_one(group: list[dict], out: str | None, work: str, workers: int, device_name: str | None,
             precision: str | None = None) -> dict:
    import torch

    from asma.ablation.ablation_trial import execute_run
    from asma.ablation.reuse import copy_run
    from asma.config.loading import config_from_dict
    from asma.data.atomic import write_json_atomic
    from asma.tracking.trackers import Tracker
    from asma.training.data import build_run_data
    from asma.training.precision import cpu_record
    from asma.training.runtime import LocalRuntime, pick_device

    spec = group[0]
    started = time.perf_counter()
    load_start = os.getloadavg()[0]
    config = json.loads(json.dumps(spec["config"]))
    data_dir = Path(config["data"]["path"])
    if str(data_dir) != "synthetic" and not data_dir.exists():  # planned elsewhere: the same prepared set under ./data/
        config["data"]["path"] = str(Path("data") / data_dir.name)
        config["data"]["cache_dir"] = str(Path(work) / "cache")
    if device_name:  # where it runs, not what it is: the record keeps the planned config
        config["train"]["device"] = device_name
    planned_precision = config["train"].get("precision", "float32")
    if precision:  # numerics the machine can afford (bfloat16 is emulated on a CPU without it): said in the record
        config["train"]["precision"] = precision
    cfg = config_from_dict(config, source=f"run {spec['run']}")
    torch.set_num_threads(max(1, cfg.train.threads or 1))
    data = build_run_data(cfg)
    eval_path = study_folder(spec, out) / "evals" / f"{spec['run']}.json"
    # the trial's own run (asma.ablation.ablation_trial.execute_run), in a LocalRuntime instead of Tune's
    run_folder = Path(work) / spec["study"] / spec["run"]
    record = execute_run(spec, cfg, data, eval_path, Tracker(), lambda: LocalRuntime(
        run_folder, cfg.train.device, cfg.ray.num_to_keep, 0))
    device = pick_device(cfg.train.device)
    machine = {"cpus": os.cpu_count(), "load_start": round(load_start, 2), "load_end": round(os.getloadavg()[0], 2),
               "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
               "runs_at_once": workers, "runner": RUNNER, **cpu_record(cfg.train.precision, device)}
    if record["pretrain"]["epochs"]:  # where its checkpoints are (asma transfer reads them)
        machine["run_folder"] = str(run_folder.resolve())
    if cfg.train.precision != planned_precision:  # the report names these runs (asma.reports.compute)
        machine["precision"] = {"ran": cfg.train.precision, "planned": planned_precision}
    for member in group:
        # the same run under each study's name: identity from the member, the rest from the run
        member_record = {**record, **{k: member[k] for k in ("run", "variant", "dataset", "split", "seed")},
                         "config": member["config"], "data_fingerprint": member.get("data_fingerprint"),
                         "machine": machine}
        result_path = study_folder(member, out) / "runs" / f"{member['run']}.json"
        if member is spec:
            write_json_atomic(result_path, member_record)
        else:  # its evaluation record, probe scores and student, as --reuse copies them
            copy_run(study_folder(spec, out), member["run"], result_path, member_record, source_run=spec["run"])
    return {"run": spec["run"], "records": len(group), "metrics": record["metrics"],
            "wall_s": round(time.perf_counter() - started, 1)}


def _stop_workers_with_the_pool(pool: ProcessPoolExecutor):
    """A SIGTERM to the pool (`kill <its pid>`) stops its runs too: without this
    the executor's workers, which the signal does not reach, train on to the end. Each run resumes
    from its last epoch's checkpoint in --work when the plan is run again. Returns the handler it
    replaced, for the caller to restore."""
    def stop(signum: int, frame: object) -> None:
        processes = list((getattr(pool, "_processes", None) or {}).values())  # pid -> Process (CPython)
        for process in processes:
            process.terminate()
        for process in processes:
            process.join(timeout=30)
        print(f"stopped by SIGTERM with {len(processes)} runs under way: they resume from their "
              "checkpoints in --work", flush=True)
        os._exit(128 + signum)  # not sys.exit: the executor's shutdown would wait for the workers

    return signal.signal(signal.SIGTERM, stop)


def run(plan_path: Path, out: str | None, work: str, workers: int, deadline: float, device: str | None = None,
        precision: str | None = None) -> dict:
    """Each spec in its own process, `workers` at once, its records under `out` (the studies' output
    root, as `asma ablate --out`; None: the one the plan was made for) and its checkpoints, data cache
    and log (pool.jsonl) in `work`. With a deadline (seconds from the start), a run starts only when
    the longest run so far would end before it: runs are not cut off half done."""
    groups = json.loads(plan_path.read_text())
    started = time.perf_counter()
    log = Path(work) / "pool.jsonl"
    Path(work).mkdir(parents=True, exist_ok=True)
    finished, failed, longest = 0, {}, None
    # a fresh process per run (its threads, CUDA context and memory end with it); a process that dies
    # breaks the pool with an error instead of leaving its run waiting forever (multiprocessing.Pool)
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), max_tasks_per_child=1) as pool:
        pending = list(groups)
        running: list = []
        previous = _stop_workers_with_the_pool(pool)
        try:
            while pending or running:
                now = time.perf_counter() - started
                fits = (not running and longest is None) or (longest is not None and now + 1.1 * longest < deadline) \
                    or (longest is None and now < 5)  # the first wave starts together
                while pending and len(running) < workers and fits:
                    running.append(pool.submit(_run_group, (pending.pop(0), out, work, workers, device, precision)))
                if not running:
                    break
                done, _ = wait(running, timeout=2, return_when=FIRST_COMPLETED)
                for job in done:
                    running.remove(job)
                    result = job.result()
                    if "error" in result:
                        failed[result["run"]] = result["error"]
                    else:
                        finished += 1
                        longest = max(longest or 0.0, result["wall_s"])
                    result["at_s"] = round(time.perf_counter() - started, 1)
                    with open(log, "a") as f:
                        f.write(json.dumps(result) + "\n")
                    print(json.dumps({k: v for k, v in result.items() if k != "traceback"}), flush=True)
        finally:  # a pool run inside another program (a test) leaves its SIGTERM as it was
            signal.signal(signal.SIGTERM, previous)
    print(f"{finished} of {len(groups)} planned runs finished in {time.perf_counter() - started:.0f} s "
          f"with {workers} at once; {len(failed)} failed; {len(pending)} not started", flush=True)
    return {"finished": finished, "failed": failed, "not_started": len(pending)}
