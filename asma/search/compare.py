"""Search efficiency: a candidate search (TPE + ASHA) against a reference (the full grid) of one space.

Both are read from their `summary/summary.json` (asma.search.summary; trials in completion order).
The best of each counts full-budget trials only: an ASHA-stopped trial's metric is measured after
fewer epochs, so it is not comparable. The candidate's cost to reach the reference is the epochs
(and trial-seconds) it had spent when its first full-budget trial came within `tolerance` points of
the reference's best.
"""
from __future__ import annotations

import json
from pathlib import Path

from asma.errors import InputFileError


def read_summary(search_dir: str | Path) -> dict:
    path = Path(search_dir) / "summary" / "summary.json"
    if not path.exists():
        raise InputFileError(path, "no search summary here", fix="pass a folder <out_dir>/tune/<name> that "
                             "`asma tune` has written (it writes summary/ when the search ends)")
    return json.loads(path.read_text())


def _full_budget(summary: dict, metric: str) -> list[dict]:
    return [t for t in summary["trials"]
            if t["status"] == "done" and t["metrics"].get(metric) is not None]


def compare_searches(reference: dict, candidate: dict, tolerance: float = 1.0) -> dict:
    """Best full-budget metric, epochs and trial-seconds of each; where the candidate reached the reference."""
    metric, mode = reference["metrics"][0], reference["modes"][0]
    if candidate["metrics"][0] != metric:
        raise ValueError(f"the searches optimise different metrics ({metric} and {candidate['metrics'][0]})")
    pick = max if mode == "max" else min

    def side(summary: dict) -> dict:
        full = _full_budget(summary, metric)
        best = pick(full, key=lambda t: t["metrics"][metric]) if full else None
        return {"name": summary["name"], "trials": len(summary["trials"]), "full_budget": len(full),
                "stopped_early": summary["compute"]["stopped_early"], "epochs": summary["compute"]["epochs"],
                "trial_s": summary["compute"]["trial_time_s"],
                "best": best["metrics"][metric] if best else None, "best_params": best["params"] if best else None}

    ref, cand = side(reference), side(candidate)
    reached, spent_epochs, spent_s = None, 0, 0.0
    for trial in candidate["trials"]:
        spent_epochs += trial["epochs"]
        spent_s += trial.get("time_s", 0.0)
        value = trial["metrics"].get(metric)
        if (reached is None and ref["best"] is not None and trial["status"] == "done" and value is not None
                and (value >= ref["best"] - tolerance if mode == "max" else value <= ref["best"] + tolerance)):
            reached = {"epochs": spent_epochs, "trial_s": round(spent_s, 2), "trial_id": trial["trial_id"]}
    gap = None if ref["best"] is None or cand["best"] is None else (
        cand["best"] - ref["best"] if mode == "max" else ref["best"] - cand["best"])
    return {"metric": metric, "mode": mode, "tolerance": tolerance, "reference": ref, "candidate": cand,
            "gap": gap, "within_tolerance": gap is not None and gap >= -tolerance,
            "epochs_share": cand["epochs"] / ref["epochs"] if ref["epochs"] else None, "reached": reached}


def comparison_markdown(c: dict) -> str:
    ref, cand = c["reference"], c["candidate"]

    def num(v, fmt="{:.1f}"):
        return "–" if v is None else fmt.format(v)

    lines = [f"| search | trials | full budget | stopped early | epochs | trial time | best {c['metric']} (full budget) |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for s in (ref, cand):
        lines.append(f"| {s['name']} | {s['trials']} | {s['full_budget']} | {s['stopped_early']} | {s['epochs']} | "
                     f"{s['trial_s'] / 60:.0f} min | {num(s['best'])} |")
    share = num(c["epochs_share"], "{:.2f}")
    verdict = ("within" if c["within_tolerance"] else "not within") + f" {c['tolerance']:g} point(s) of the reference's best"
    lines += ["", f"{cand['name']} is {num(c['gap'], '{:+.1f}')} points from {ref['name']}'s best ({verdict}), "
              f"spending {share} of its epochs."]
    if c["reached"]:
        r = c["reached"]
        lines.append(f"Its first full-budget trial within {c['tolerance']:g} point(s) of that best was {r['trial_id']}, "
                     f"after {r['epochs']} epochs ({r['trial_s'] / 60:.0f} trial-minutes).")
    return "\n".join(lines)
