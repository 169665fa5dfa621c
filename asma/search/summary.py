"""What a search found, written atomically to `<run>/summary/`.

- `summary.json` / `summary.md`: every trial (params, metrics, epochs run, whether ASHA stopped
  it), the best trial (single objective: the best among trials that ran the whole budget, since
  ASHA-stopped trials are measured after fewer epochs) or the Pareto front (multi-objective), the
  parameter importances, the compute spent, and `proxy_agreement`: at each epoch the proxy ASHA
  stops on was measured, its Spearman correlation with the final metric over the full-budget trials.
- `trials.csv`: one row per trial (id, status, epochs, seconds, metrics, params), for docs/results/.
- `best_config.yaml`: the full config of the best trial, ready for `asma pretrain`.
- `best_preset.yaml`: the same as a preset: `base:` the space's base, then the space's fixed
  overrides and the best trial's params, without the data set, budget and output keys, so that it
  serves another data set as it is. Copied into asma/presets/ it is taken by name
  (`asma pretrain NAME`, `base: NAME` in a study).
- `history.png` (metric by trial in completion order, best so far; per-epoch curves of the ASHA
  metric), `importances.png`, and `pareto.png` for multi-objective searches.
- summary.md names the Optuna study the search wrote (asma.search.optuna_study) and how to open it.

Importances come from an Optuna study rebuilt from the results (fANOVA, Optuna's default).
"""
from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import yaml

from asma.config.loading import config_to_dict, set_dotted
from asma.data.atomic import atomic_directory, write_json_atomic
from asma.search.continuation import read_earlier
from asma.search.optuna_study import recorded_location
from asma.search.space import SearchSpace, distribution


def trial_rows(results, space: SearchSpace) -> list[dict]:
    """One row per trial, in completion order."""
    rows = []
    for result in results:
        m = result.metrics or {}
        history = result.metrics_dataframe
        curve = []  # [epoch, value] where the metric was measured (not carried: train.eval_report=latest)
        if history is not None and space.schedule_metric in history:
            epochs_column = history["training_iteration"].tolist() if "training_iteration" in history else None
            measured = history["proxy_epoch"].tolist() if "proxy_epoch" in history else None
            for i, value in enumerate(history[space.schedule_metric].tolist()):
                epoch = int(epochs_column[i]) if epochs_column else i + 1
                if value == value and (measured is None or measured[i] == epoch):
                    curve.append([epoch, float(value)])
        epochs = int(m.get("training_iteration", 0))
        status = "error" if result.error else ("done" if epochs >= space.epochs else "stopped early")
        rows.append({
            "trial_id": m.get("trial_id") or Path(result.path).name.removeprefix("trial_"),
            "status": status, "epochs": epochs, "params": dict(result.config or {}),
            "metrics": {k: _number(m.get(k)) for k in dict.fromkeys(space.metrics + [space.schedule_metric])},
            "time_s": round(float(m.get("time_total_s", 0.0)), 2), "finished_at": float(m.get("timestamp", 0)),
            "curve": curve, "error": str(result.error).splitlines()[0] if result.error else None,
        })
    return sorted(rows, key=lambda r: r["finished_at"])


def mark_interrupted(rows: list[dict], run_dir: Path) -> list[dict]:
    """Rows of trials a stop signal left unfinished: `interrupted`, not `stopped early`. Tune's results
    do not tell a trial ASHA stopped from one Ctrl-C stopped; the search's Optuna study does (the
    searcher never told it the trial's end: still RUNNING). Without a stored study, rows stay as they are."""
    import optuna

    location = recorded_location(run_dir)
    if location is None or not rows:
        return rows
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.load_study(study_name=location.study_name, storage=location.open())
    except KeyError:  # no study of that name (yet): nothing to tell
        return rows
    running = {t.user_attrs.get("tune_trial_id") for t in study.get_trials(deepcopy=False)
               if t.state == optuna.trial.TrialState.RUNNING}
    return [{**r, "status": "interrupted"} if r["trial_id"] in running and r["status"] != "error" else r for r in rows]


def _number(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def _better(a: float, b: float, mode: str) -> bool:
    return a > b if mode == "max" else a < b


def best_trial(rows: list[dict], space: SearchSpace) -> dict | None:
    metric, mode = space.metrics[0], space.modes[0]
    scored = [r for r in rows if r["metrics"].get(metric) is not None]
    full = [r for r in scored if r["status"] == "done"]
    best = None
    for row in full or scored:
        if best is None or _better(row["metrics"][metric], best["metrics"][metric], mode):
            best = row
    return best


def pareto_front(rows: list[dict], space: SearchSpace) -> list[dict]:
    """Trials no other trial dominates (at least as good in every objective, better in one)."""
    scored = [r for r in rows if all(r["metrics"].get(m) is not None for m in space.metrics)]

    def dominates(a: dict, b: dict) -> bool:
        pairs = [(a["metrics"][m], b["metrics"][m], mode) for m, mode in zip(space.metrics, space.modes)]
        return all(x == y or _better(x, y, mode) for x, y, mode in pairs) and any(_better(x, y, mode) for x, y, mode in pairs)

    front = [r for r in scored if not any(dominates(o, r) for o in scored if o is not r)]
    return sorted(front, key=lambda r: r["metrics"][space.metrics[0]], reverse=space.modes[0] == "max")


def proxy_agreement(rows: list[dict], space: SearchSpace) -> list[dict]:
    """Whether the proxy ASHA stops on ranks trials as the search's metric does at the end.

    For each epoch the proxy was measured at (ASHA's rungs, the last epoch), the Spearman rank
    correlation between the proxy there and the metric at the end, over the trials that ran the
    whole budget (only they have both). Fewer than 3 such trials, or no spread: no correlation."""
    from scipy.stats import spearmanr

    if space.multi_objective:
        return []
    metric = space.metrics[0]
    full = [(dict(map(tuple, r["curve"])), r["metrics"][metric]) for r in rows
            if r["status"] == "done" and r["metrics"].get(metric) is not None]
    out = []
    for epoch in sorted({e for curve, _ in full for e in curve}):
        pairs = [(curve[epoch], final) for curve, final in full if epoch in curve]
        rho = None
        if len(pairs) >= 3 and len({a for a, _ in pairs}) > 1 and len({b for _, b in pairs}) > 1:
            rho = round(float(spearmanr([a for a, _ in pairs], [b for _, b in pairs]).statistic), 3)
        out.append({"epoch": int(epoch), "trials": len(pairs), "spearman": rho})
    return out


def importances(rows: list[dict], space: SearchSpace) -> tuple[dict[str, float], str]:
    """(importance per param, note): fANOVA on an Optuna study rebuilt from the trials."""
    import optuna

    scored = [r for r in rows if all(r["metrics"].get(m) is not None for m in space.metrics)]
    varied = [k for k in space.params if len({repr(r["params"].get(k)) for r in scored}) > 1]
    if len(scored) < 3 or not varied:
        return {}, f"not computed: needs at least 3 scored trials and a varied param (have {len(scored)})"
    directions = ["maximize" if m == "max" else "minimize" for m in space.modes]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=directions)
    for row in scored:
        params = {k: v for k, v in row["params"].items() if k in space.params}
        study.add_trial(optuna.trial.create_trial(
            params=params, distributions={k: distribution(space.params[k]) for k in params},
            values=[row["metrics"][m] for m in space.metrics]))
    target = (lambda t: t.values[0]) if space.multi_objective else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = optuna.importance.get_param_importances(study, target=target)
    note = f"fANOVA over {len(scored)} trials, on {space.metrics[0]} (each trial's last reported value)"
    return {k: round(float(v), 4) for k, v in found.items()}, note


def write_summary(results, space: SearchSpace, run_dir: Path) -> dict:
    """Write summary/ (replacing an older one in one rename); returns summary.json's content.

    A search continued without its first Tune experiment (asma.search.continuation) starts with the
    trials that experiment finished, kept in earlier_trials.json."""
    rows = mark_interrupted([*read_earlier(run_dir), *trial_rows(results, space)], run_dir)
    best = best_trial(rows, space)
    front = pareto_front(rows, space) if space.multi_objective else []
    try:
        found, note = importances(rows, space)
    except (ValueError, RuntimeError) as e:  # e.g. every value equal: fANOVA has nothing to split
        found, note = {}, f"not computed: {e}"
    chosen = (front[0] if front else best)
    summary = {
        "name": space.name, "source": space.source, "metrics": space.metrics, "modes": space.modes,
        "sampler": space.spec.sampler, "seed": space.spec.seed,
        "scheduler": ("FIFO (multi-objective: no early stopping)" if space.multi_objective else
                      "FIFO (no early stopping)" if not space.early_stopping else
                      f"ASHA on {space.schedule_metric}, grace {space.spec.budget.grace_period}, "
                     f"reduction {space.spec.budget.reduction_factor:g}"),
        "epochs_per_trial": space.epochs,
        "compute": {"trials": len(rows), "epochs": sum(r["epochs"] for r in rows),
                    "trial_time_s": round(sum(r["time_s"] for r in rows), 2),
                    "stopped_early": sum(r["status"] == "stopped early" for r in rows),
                    "interrupted": sum(r["status"] == "interrupted" for r in rows),
                    "errors": sum(r["status"] == "error" for r in rows)},
        "best": _public(best), "pareto": [_public(r) for r in front],
        "importances": found, "importances_note": note,
        "proxy_agreement": proxy_agreement(rows, space),
        "trials": [_public(r) for r in rows],
        "study": _study_record(run_dir),
    }
    with atomic_directory(run_dir / "summary") as out:
        write_json_atomic(out / "summary.json", summary)
        (out / "summary.md").write_text(markdown(summary, space))
        (out / "trials.csv").write_text(trials_csv(rows, space))
        if chosen is not None:
            cfg = space.trial_config(chosen["params"])
            (out / "best_config.yaml").write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
            (out / "best_preset.yaml").write_text(preset_text(space, chosen))
        from asma.search.search_plots import plot_history, plot_importances, plot_pareto  # lazy: imports matplotlib

        plot_history(rows, space, out / "history.png")
        if found:
            plot_importances(found, out / "importances.png")
        if space.multi_objective:
            plot_pareto(rows, front, space, out / "pareto.png")
    return summary


# Keys a found preset leaves to whoever runs it: which data, how long, where results go, and how the
# machine runs the step (precision, device, threads, compiling: the same method at another speed).
RUN_KEYS = ("data.path", "data.split", "data.cache_dir", "out_dir", "name", "train.epochs",
            "train.max_steps_per_epoch", "train.eval_every", "train.eval_epochs", "train.eval_report")
NOT_PRESET = RUN_KEYS + ("train.precision", "train.device", "train.threads", "train.compile",
                         "distill.teacher", "distill.epochs")


def preset_text(space: SearchSpace, trial: dict) -> str:
    """A preset YAML of a trial: the space's base, its fixed overrides and the trial's params, nested."""
    chosen = {**space.spec.overrides, **trial["params"]}
    raw: dict[str, Any] = {"base": space.spec.base}
    for key, value in chosen.items():
        if not key.startswith(NOT_PRESET):
            set_dotted(raw, key.split("."), value)
    scores = ", ".join(f"{m} {_fmt(trial['metrics'].get(m))}" for m in space.metrics)
    header = (f"# Found by the search {space.name} ({space.source}): trial {trial['trial_id']}, {scores} after "
              f"{trial['epochs']} epochs.\n# Its searched params and fixed overrides on base {space.spec.base}; "
              "the data set, budget and output are the caller's.\n")
    return header + yaml.safe_dump(raw, sort_keys=False)


def trials_csv(rows: list[dict], space: SearchSpace) -> str:
    """One row per trial in completion order: id, status, epochs, seconds, the metrics, the params."""
    import csv
    import io

    metrics = list(dict.fromkeys(space.metrics + [space.schedule_metric]))
    params = list(space.params)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["trial", "status", "epochs", "time_s", *metrics, *params])
    for r in rows:
        writer.writerow([r["trial_id"], r["status"], r["epochs"], r["time_s"],
                         *["" if r["metrics"].get(m) is None else r["metrics"][m] for m in metrics],
                         *[r["params"].get(k, "") for k in params]])
    return buffer.getvalue()


def _study_record(run_dir: Path) -> dict | None:
    """The search's Optuna study (asma.search.optuna_study): its name and the command that opens it."""
    study = recorded_location(run_dir)
    return None if study is None else {"study_name": study.study_name, "open_with": study.dashboard_command()}


def _public(row: dict | None) -> dict | None:
    if row is None:
        return None
    return {k: v for k, v in row.items() if k not in ("finished_at",)}


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def markdown(summary: dict, space: SearchSpace, top: int = 10) -> str:
    metric, mode = space.metrics[0], space.modes[0]
    lines = [f"# Search `{summary['name']}`", "",
             f"{summary['compute']['trials']} trials x up to {summary['epochs_per_trial']} epochs "
             f"({summary['compute']['epochs']} epochs run, {summary['compute']['stopped_early']} stopped early, "
             f"{summary['compute'].get('interrupted', 0)} interrupted, {summary['compute']['errors']} failed); "
             f"sampler {summary['sampler']} (seed {summary['seed']}); "
             f"{summary['scheduler']}. Objective: " +
             ", ".join(f"{m} ({d})" for m, d in zip(space.metrics, space.modes)) + ".", ""]
    if summary.get("study"):
        lines += [f"Optuna study `{summary['study']['study_name']}`: `{summary['study']['open_with']}`", ""]
    best = summary["best"]
    if summary["pareto"]:
        lines += ["## Pareto front", "", _table(summary["pareto"], space), ""]
    elif best:
        lines += ["## Best trial", "", f"`{best['trial_id']}`: {metric} = {_fmt(best['metrics'][metric])} "
                  f"after {best['epochs']} epochs (config: summary/best_config.yaml)", ""]
        lines += [f"- `{k}`: {_fmt(v)}" for k, v in best["params"].items()] + [""]
    ranked = [t for t in summary["trials"] if t["metrics"].get(metric) is not None]
    ranked.sort(key=lambda t: t["metrics"][metric], reverse=mode == "max")
    lines += [f"## Top {min(top, len(ranked))} by {metric}", "", _table(ranked[:top], space), ""]
    agreement = [a for a in summary.get("proxy_agreement", []) if a["epoch"] > 1]
    if agreement:
        lines += [f"## Does {space.schedule_metric} rank trials as {metric} does at the end?", "",
                  f"Spearman correlation between {space.schedule_metric} at an epoch and {metric} at the "
                  f"end, over the trials that ran all {space.epochs} epochs.", "",
                  "| epoch | trials | Spearman |", "| --- | --- | --- |"]
        lines += [f"| {a['epoch']} | {a['trials']} | {_fmt(a['spearman']) if a['spearman'] is not None else '-'} |"
                  for a in agreement] + [""]
    lines += ["## Parameter importances", "", summary["importances_note"], ""]
    lines += ["| param | importance |\n| --- | --- |"] if summary["importances"] else []
    lines += [f"| `{k}` | {v:.3f} |" for k, v in summary["importances"].items()]
    return "\n".join(lines).rstrip() + "\n"


def _table(rows: list[dict], space: SearchSpace) -> str:
    metrics = list(dict.fromkeys(space.metrics))
    head = ["trial", "status", "epochs", *metrics, *space.params]
    out = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for r in rows:
        cells = [r["trial_id"], r["status"], str(r["epochs"]), *[_fmt(r["metrics"].get(m)) for m in metrics],
                 *[_fmt(r["params"].get(k, "-")) for k in space.params]]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)
