"""Report tables, tests and files from hand-made result rows (no Ray, no training)."""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from asma.reports.render import latex_escape
from asma.reports.report import write_report
from asma.reports.stats import paired_p_value, summarize
from asma.reports.tables import format_p, format_summary

SCORES = {  # variant -> seed -> (knn, linear)
    "low": {0: (40.0, 50.0), 1: (42.0, 51.0), 2: (41.0, 55.0)},
    "mid": {0: (60.0, 52.0), 1: (61.0, 54.0), 2: (65.0, 53.0)},
    "high": {0: (55.0, 70.0), 1: (50.0, 72.0), 2: (52.0, 71.0)},
}


def make_run_dir(tmp_path: Path, scores=SCORES, seeds=(0, 1, 2), drop=()) -> Path:
    run_dir = tmp_path / "study_x"
    (run_dir / "runs").mkdir(parents=True)
    runs = []
    for variant, by_seed in scores.items():
        for seed in seeds:
            run = f"{variant}__syn_data__seed{seed}"
            runs.append(run)
            if run in drop:
                continue
            knn, linear = by_seed[seed]
            (run_dir / "runs" / f"{run}.json").write_text(json.dumps({
                "run": run, "variant": variant, "dataset": "syn_data", "split": "xsub", "seed": seed,
                "metrics": {"knn": knn, "linear": linear}, "pretrain": {"final_loss": 1.0, "time_s": 2.0}}))
    study = {
        "name": "study_x", "source": "ablations/x.yaml", "description": "", "default": "mid",
        "seeds": list(seeds), "protocols": ["knn", "linear"],
        "variants": {v: {"label": f"ratio_{v}", "default": v == "mid", "overrides": {"k.x": 1}} for v in scores},
        "factors": [{"name": "mask ratio", "axis": "ratio", "variants": {"low": 0.1, "mid": 0.3, "high": 0.5}},
                    {"name": "plain", "variants": ["high"]}],
        "datasets": [{"name": "syn_data", "path": "synthetic", "split": "xsub"}], "runs": runs,
    }
    (run_dir / "study.json").write_text(json.dumps(study))
    return run_dir


def table_rows(markdown: str, heading: str) -> list[list[str]]:
    block = markdown.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in block.splitlines() if line.startswith("| ")][2:]
    return [[c.strip() for c in line.strip("|").split(" | ")] for line in lines]


def test_markdown_cells_match_the_scores(tmp_path):
    files = write_report(make_run_dir(tmp_path))
    rows = table_rows(files.markdown.read_text(), "mask ratio")
    assert [r[0] for r in rows] == ["ratio_low", "ratio_mid *(default)*", "ratio_high"]
    for row, variant in zip(rows, ["low", "mid", "high"]):
        knn = [SCORES[variant][s][0] for s in range(3)]
        cell = row[1].strip("*")
        assert cell == f"{np.mean(knn):.1f} ± {np.std(knn, ddof=1):.1f}"
    # best of each column in bold, only there: mid for kNN, high for linear
    assert rows[1][1].startswith("**") and not rows[0][1].startswith("**") and not rows[2][1].startswith("**")
    assert rows[2][5].startswith("**") and not rows[1][5].startswith("**")
    # paired difference to the default with its 95% CI, and p (paired t over seeds); empty for the default
    low_knn = [SCORES["low"][s][0] for s in range(3)]
    mid_knn = [SCORES["mid"][s][0] for s in range(3)]
    diff = np.subtract(low_knn, mid_knn)
    low, high = stats.t.interval(0.95, 2, loc=diff.mean(), scale=stats.sem(diff))
    assert rows[0][2] == f"{diff.mean():+.1f} [{low:+.1f}, {high:+.1f}]" == "-21.0 [-27.6, -14.4]"  # sd sqrt(7), t(0.975, 2) = 4.303
    assert rows[0][3] == f"{stats.ttest_rel(low_knn, mid_knn).pvalue:.3f}"
    assert rows[1][2] == rows[1][3] == rows[1][4] == ""
    # the default row is added to factors that do not list it
    assert [r[0] for r in table_rows(files.markdown.read_text(), "plain")] == ["ratio_mid *(default)*", "ratio_high"]
    assert "3 seeds (0, 1, 2)" in files.markdown.read_text()


def test_csv_has_one_row_per_run(tmp_path):
    files = write_report(make_run_dir(tmp_path))
    rows = list(csv.DictReader(files.csv.open()))
    assert len(rows) == 9
    row = next(r for r in rows if r["run"] == "high__syn_data__seed1")
    assert float(row["knn"]) == 50.0 and float(row["linear"]) == 72.0 and row["default"] == "False"
    assert {r["reference"] for r in rows} == {""}  # no floor or ceiling rows in this study


def test_latex_is_balanced_booktabs(tmp_path):
    tex = write_report(make_run_dir(tmp_path)).latex.read_text()
    begins, ends = re.findall(r"\\begin\{(\w+)\}", tex), re.findall(r"\\end\{(\w+)\}", tex)
    assert sorted(begins) == sorted(ends) and begins.count("table") == 2
    for rule in (r"\toprule", r"\midrule", r"\bottomrule"):
        assert tex.count(rule) == 2
    assert r"ratio\_mid (default)" in tex and r"\textbf{" in tex and "$\\pm$" in tex
    assert "ratio_" not in tex  # every underscore escaped
    # each table row has as many cells as the column spec
    for spec, body in re.findall(r"\\begin\{tabular\}\{(\w+)\}(.*?)\\end\{tabular\}", tex, re.S):
        for line in body.splitlines():
            if line.strip().endswith(r"\\"):
                assert line.count("&") == len(spec) - 1


def test_plot_for_numeric_factor_only(tmp_path):
    files = write_report(make_run_dir(tmp_path))
    assert [p.name for p in files.plots] == ["plot_mask_ratio.png"]
    assert files.plots[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_missing_runs_and_fewer_seeds_are_shown(tmp_path):
    files = write_report(make_run_dir(tmp_path, drop=("low__syn_data__seed2",)))
    text = files.markdown.read_text()
    assert files.missing == ["low__syn_data__seed2"] and "Missing runs" in text
    low = table_rows(text, "mask ratio")[0]
    assert low[1].endswith("(n=2)")


def test_no_p_values_under_three_seeds(tmp_path):
    two = {v: {s: x for s, x in by_seed.items() if s < 2} for v, by_seed in SCORES.items()}
    text = write_report(make_run_dir(tmp_path, two, seeds=(0, 1))).markdown.read_text()
    header = next(line for line in text.splitlines() if line.startswith("| variant"))
    assert "| p |" not in header and "Δ" not in header


def test_paired_p_value():
    a, b = {0: 1.0, 1: 2.0, 2: 4.0}, {0: 1.5, 1: 2.0, 2: 3.0}
    assert paired_p_value(a, b) == pytest.approx(stats.ttest_rel([1, 2, 4], [1.5, 2, 3]).pvalue)
    assert paired_p_value(a, {0: 1.0, 1: 2.0}) is None  # two matched seeds
    assert paired_p_value(a, a) == 1.0
    assert paired_p_value({0: 2.0, 1: 3.0, 2: 5.0}, a) == 0.0  # constant difference, no variance
    with pytest.raises(ValueError):
        paired_p_value(a, b, "anova")


def exact_signed_rank_p(diff: list[float]) -> float:
    """Two-sided exact Wilcoxon signed-rank p, by counting all 2^n sign patterns (no ties, no zeros)."""
    n = len(diff)
    ranks = {d: r for r, d in enumerate(sorted(diff, key=abs), start=1)}
    observed = sum(ranks[d] for d in diff if d > 0)
    sums = [sum(r for r, bit in zip(range(1, n + 1), format(mask, f"0{n}b")) if bit == "1") for mask in range(2 ** n)]
    low = sum(w <= observed for w in sums) / 2 ** n
    high = sum(w >= observed for w in sums) / 2 ** n
    return min(1.0, 2 * min(low, high))


def test_wilcoxon_p_is_the_exact_signed_rank_p_of_the_seed_pairs():
    """Seeds are paired by number, not by position: the dicts list them in different orders."""
    variant = {3: 61.0, 0: 58.5, 5: 63.2, 1: 60.1, 4: 57.9, 2: 62.4}
    default = {0: 57.0, 1: 60.4, 2: 59.1, 3: 58.8, 4: 58.6, 5: 59.3}
    diff = [variant[s] - default[s] for s in range(6)]
    got = paired_p_value(variant, default, "wilcoxon")
    assert got == pytest.approx(exact_signed_rank_p(diff), rel=1e-9)
    assert got == pytest.approx(stats.wilcoxon([variant[s] for s in range(6)], [default[s] for s in range(6)]).pvalue)
    assert got != pytest.approx(paired_p_value(variant, default, "t"))


def test_formatting():
    assert format_summary(summarize([1.0, 2.0, 3.0]), 3) == "2.0 ± 1.0"
    assert format_summary(summarize([70.0]), 1) == "70.0"
    assert format_summary(summarize([1.0, 3.0]), 3) == "2.0 ± 1.4 (n=2)"
    assert format_summary(None, 3) == "–"
    assert latex_escape("a_b & 5% #1") == r"a\_b \& 5\% \#1"


def test_not_a_run_folder(tmp_path):
    from asma.errors import InputFileError

    with pytest.raises(InputFileError, match="study.json"):
        write_report(tmp_path)


def test_reference_rows_are_shown_but_never_best_nor_tested(tmp_path):
    from asma.reports.results import load_results
    from asma.reports.tables import study_tables

    scores = {**SCORES, "ceiling": {0: (99.0, 99.0), 1: (98.0, 98.0), 2: (97.0, 97.0)}}
    run_dir = make_run_dir(tmp_path, scores)
    study = json.loads((run_dir / "study.json").read_text())
    study["variants"]["ceiling"]["reference"] = "ceiling"
    study["factors"][1]["variants"] = ["high", "ceiling"]
    (run_dir / "study.json").write_text(json.dumps(study))
    table = next(t for t in study_tables(load_results(run_dir)) if t.factor == "plain")
    ceiling = next(r for r in table.rows if r.variant == "ceiling")
    high = next(r for r in table.rows if r.variant == "high")
    assert ceiling.cells[0].summary.mean == pytest.approx(98.0)
    assert not any(c.best for c in ceiling.cells) and all(c.p is None for c in ceiling.cells)
    assert high.cells[1].best  # linear: 71 beats the default's 53; the ceiling's 98 does not count
    assert all(c.difference is None for c in ceiling.cells) and high.cells[1].difference.mean == pytest.approx(18.0)
    rows = list(csv.DictReader(write_report(run_dir).csv.open()))
    assert {r["variant"]: r["reference"] for r in rows} == {"low": "", "mid": "", "high": "", "ceiling": "ceiling"}


def test_holm_adjusts_a_family_by_rank_and_keeps_the_order():
    from asma.reports.stats import holm_adjust

    # sorted: 0.005 x 4 = 0.02, 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 = 0.04 -> raised to 0.06
    assert holm_adjust([0.01, 0.04, None, 0.03, 0.005]) == pytest.approx([0.03, 0.06, None, 0.06, 0.02])
    assert holm_adjust([0.6, 0.7]) == [1.0, 1.0]  # capped at 1
    assert holm_adjust([0.02]) == [0.02] and holm_adjust([None]) == [None]


def test_each_p_is_also_given_holm_adjusted_over_the_table_s_tests(tmp_path):
    from asma.reports.stats import holm_adjust

    files = write_report(make_run_dir(tmp_path))
    text = files.markdown.read_text()
    rows = table_rows(text, "mask ratio")
    header = next(line for line in text.split("## mask ratio\n", 1)[1].splitlines() if line.startswith("| variant"))
    assert header.count("| p (Holm) |") == 2
    # the family: low and high against the default, on kNN and on linear (4 tests)
    raw = {(v, j): stats.ttest_rel([SCORES[v][s][j] for s in range(3)], [SCORES["mid"][s][j] for s in range(3)]).pvalue
           for v in ("low", "high") for j in (0, 1)}
    adjusted = dict(zip(raw, holm_adjust(list(raw.values()))))
    assert "Holm-Bonferroni over the table's 4 tests" in text
    for row, v in ((rows[0], "low"), (rows[2], "high")):
        assert row[3] == format_p(raw[(v, 0)]) and row[4] == format_p(adjusted[(v, 0)])
        assert row[7] == format_p(raw[(v, 1)]) and row[8] == format_p(adjusted[(v, 1)])
    assert format_p(adjusted[("low", 0)]) != format_p(raw[("low", 0)])  # the adjustment changes a figure here
    # --adjust none shows raw p only
    none = write_report(make_run_dir(tmp_path / "raw"), adjust="none").markdown.read_text()
    assert "p (Holm)" not in none and "Holm" not in none
    with pytest.raises(ValueError, match="adjustment"):
        write_report(make_run_dir(tmp_path / "bad"), adjust="bonferroni")


def test_tables_csv_holds_every_cell_unrounded_as_the_markdown_shows_it(tmp_path):
    files = write_report(make_run_dir(tmp_path))
    cells = list(csv.DictReader(files.tables_csv.open()))
    ratio = [c for c in cells if c["table"] == "mask ratio"]
    assert len(ratio) == 3 * 2 and len(cells) == 3 * 2 + 2 * 2  # rows x columns of both tables
    markdown = {r[0]: r for r in table_rows(files.markdown.read_text(), "mask ratio")}
    for c in ratio:
        k = ["knn", "linear"].index(c["metric"])  # SCORES' tuple index
        j = 1 + 4 * k  # its Markdown column: value, Δ, p, p (Holm) per metric
        values = [SCORES[c["variant"]][s][k] for s in range(3)]
        assert float(c["mean"]) == pytest.approx(np.mean(values)) and float(c["std"]) == pytest.approx(np.std(values, ddof=1))
        row = markdown[c["label"] + (" *(default)*" if c["default"] == "True" else "")]
        assert row[j].strip("*") == f"{float(c['mean']):.1f} ± {float(c['std']):.1f}"
        assert (row[j].startswith("**")) == (c["best"] == "True")
        if c["default"] == "True":
            assert c["delta"] == c["p"] == c["p_holm"] == c["test"] == ""
        else:
            assert row[j + 2] == format_p(float(c["p"])) and row[j + 3] == format_p(float(c["p_holm"]))
            assert float(c["ci_low"]) <= float(c["delta"]) <= float(c["ci_high"]) and c["test"] == "t"


def test_a_column_equal_to_the_default_s_on_every_seed_is_not_in_holm_s_family(tmp_path):
    from asma.reports.results import load_results
    from asma.reports.tables import study_tables

    # a shared teacher: every row's kNN is the default's own; only the linear column tests anything
    shared = {v: {s: (SCORES["mid"][s][0], x[1]) for s, x in by_seed.items()} for v, by_seed in SCORES.items()}
    table = study_tables(load_results(make_run_dir(tmp_path, shared)))[0]
    low, high = table.rows[0], table.rows[2]
    assert low.cells[0].p == 1.0 and low.cells[0].p_adjusted is None and table.tests == 2
    # linear: high's p (< 0.001) is the smaller of the two, times 2; low's (0.58) times 1
    assert high.cells[1].p_adjusted == pytest.approx(2 * high.cells[1].p)
    assert low.cells[1].p_adjusted == pytest.approx(low.cells[1].p)


def test_paired_difference_ci_matches_scipy_and_needs_three_seeds():
    from asma.reports.stats import paired_difference

    variant = {0: 50.0, 1: 53.5, 2: 49.0, 3: 57.0, 4: 51.0}
    default = {0: 48.0, 1: 50.0, 2: 50.5, 3: 52.0, 4: 47.5, 9: 10.0}  # seed 9 is not matched
    d = paired_difference(variant, default)
    diff = np.array([variant[s] - default[s] for s in range(5)])
    low, high = stats.t.interval(0.95, 4, loc=diff.mean(), scale=stats.sem(diff))
    assert (d.n, d.mean) == (5, pytest.approx(diff.mean()))
    assert (d.low, d.high) == (pytest.approx(low), pytest.approx(high))
    assert paired_difference({0: 1.0, 1: 2.0}, {0: 1.0, 1: 1.0}) is None


def test_a_multi_stream_supervised_run_reports_each_stream_and_fusion(tmp_path):
    """New records carry the columns (columns_of_record); an older record gets them from its
    evaluation record in evals/, and a one-stream result adds none."""
    from asma.experiments.evaluate import columns_of_record
    from asma.reports.results import load_results

    fused = {"top1": 84.0, "streams": {"joint": {"top1": 76.0}, "bone": {"top1": 78.0}, "motion": {"top1": 70.0}},
             "fusions": {"joint+bone": {"top1": 82.0}}}
    expected = {"supervised": 84.0, "supervised joint": 76.0, "supervised bone": 78.0, "supervised motion": 70.0,
                "supervised joint+bone": 82.0}
    assert columns_of_record({"protocols": {"supervised": fused}}) == expected
    single = {"top1": 75.0, "streams": {"joint": {"top1": 75.0}}, "fusions": {}}
    assert columns_of_record({"protocols": {"supervised": single}}) == {"supervised": 75.0}
    run_dir = make_run_dir(tmp_path)
    (run_dir / "evals").mkdir()
    run = "high__syn_data__seed1"
    (run_dir / "evals" / f"{run}.json").write_text(json.dumps({"protocols": {"supervised": fused}}))
    row = next(r for r in load_results(run_dir).rows if r["run"] == run)
    assert row["metrics"] == {"knn": 50.0, "linear": 72.0, **{k: v for k, v in expected.items() if " " in k}}
    files = write_report(run_dir)
    rows = list(csv.DictReader(files.csv.open()))
    assert next(r for r in rows if r["run"] == run)["supervised joint+bone"] == "82.0"
    markdown = files.markdown.read_text()
    assert "supervised joint" not in table_rows(markdown, "mask ratio")[0]  # protocol columns only
    heading = "supervised streams: each one, and the fusion of the leading ones"
    (streams,) = table_rows(markdown, heading)  # the one variant with streams, not compared
    assert streams[0] == "ratio_high" and streams[1:] == ["76.0 (n=1)", "78.0 (n=1)", "70.0 (n=1)", "82.0 (n=1)"]
    assert "| variant | syn_data (xsub) joint | syn_data (xsub) bone | syn_data (xsub) motion | syn_data (xsub) joint+bone |" in markdown
    assert next(r for r in rows if r["run"] == "low__syn_data__seed0")["supervised joint+bone"] == ""


def test_a_distillation_study_reports_each_students_cost_and_gap_to_its_teacher(tmp_path):
    """From the runs' distill.json records: sizes, MFLOPs, median latency and speed-up over seeds, and
    the paired gap distilled - teacher with scipy's 95% CI; a study without records has no such table."""
    run_dir = tmp_path / "distil"
    (run_dir / "runs").mkdir(parents=True)
    teacher, distilled, scratch = [60.0, 62.0, 59.0], [61.0, 61.5, 60.0], [70.0, 75.0, 72.0]
    runs = []
    for seed in range(3):
        run = f"w8__syn__seed{seed}"
        runs.append(run)
        (run_dir / "runs" / f"{run}.json").write_text(json.dumps({
            "run": run, "variant": "w8", "dataset": "syn", "split": "xsub", "seed": seed,
            "metrics": {"teacher_linear": teacher[seed], "student_distilled": distilled[seed],
                        "student_scratch": scratch[seed]}, "pretrain": {"epochs": 0}}))
        evals = run_dir / "evals" / f"{run}.student"
        evals.mkdir(parents=True)
        (evals / "distill.json").write_text(json.dumps({
            "teacher": {"parameters": 1000, "inference": {"mflops": 100.0, "latency_ms_b1": 10.0 + seed}},
            "student": {"parameters": 80, "inference": {"mflops": 5.0, "latency_ms_b1": 1.0 + seed}},
            "parameter_reduction_pct": 92.0, "speedup_b1": [10.0, 5.5, 4.0][seed]}))
    (run_dir / "study.json").write_text(json.dumps({
        "name": "distil", "source": "ablations/d.yaml", "description": "", "default": "w8", "seeds": [0, 1, 2],
        "protocols": ["distill"], "variants": {"w8": {"label": "width 8", "default": True, "overrides": {}}},
        "factors": [{"name": "student size", "variants": ["w8"]}],
        "datasets": [{"name": "syn", "path": "synthetic", "split": "xsub"}], "runs": runs}))
    text = write_report(run_dir).markdown.read_text()
    [row] = table_rows(text, "Student against teacher: size, speed, accuracy")
    gap = np.subtract(distilled, teacher)
    half = stats.t.ppf(0.975, 2) * gap.std(ddof=1) / np.sqrt(3)
    assert row[:8] == ["width 8", "syn", "3", "80 (teacher 1,000)", "92.0%", "5.0 / 100.0", "2.00 / 11.00", "5.5x"]
    assert row[8] == f"{gap.mean():+.1f} [{gap.mean() - half:+.1f}, {gap.mean() + half:+.1f}]"
    assert row[9].startswith(f"{np.subtract(scratch, teacher).mean():+.1f} [")
    assert "Student against teacher" not in write_report(make_run_dir(tmp_path)).markdown.read_text()
    with open(run_dir / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["speedup_b1"]) for r in rows] == [10.0, 5.5, 4.0] and rows[0]["student_params"] == "80"
    assert "speedup_b1" not in (tmp_path / "study_x" / "results.csv").read_text()


def test_the_compute_section_sums_each_variant_s_trial_time_and_the_load_it_ran_beside(tmp_path):
    """Each run's time is its pretraining plus its evaluation; a copied run (`reused_from`) costs
    nothing; the load line is the median and range of the recorded load averages."""
    run_dir = make_run_dir(tmp_path)
    records = {p.stem: json.loads(p.read_text()) for p in (run_dir / "runs").glob("*.json")}
    for n, (run, record) in enumerate(sorted(records.items())):
        record["pretrain"] = {"epochs": 200, "time_s": 600.0 * (n + 1)}
        record["eval_time_s"] = 60.0
        if run != "mid__syn_data__seed2":  # that one from before the machine record
            record["machine"] = {"cpus": 2, "load_start": float(n), "load_end": float(n) + 0.4}
        if run.startswith("low"):  # runs with the CPU in their record: one that emulates bfloat16
            record["machine"].update(cpu={"model": "AMD EPYC", "capability": "AVX2"}, bfloat16_slowdown=17.3)
        if run == "low__syn_data__seed0":  # pretrained in float32 where the study planned bfloat16
            record["machine"]["precision"] = {"ran": "float32", "planned": "bfloat16"}
            record["config"] = {"train": {"precision": "bfloat16"}}
        if run == "low__syn_data__seed1":
            record["config"] = {"train": {"precision": "bfloat16"}}
        if run == "low__syn_data__seed2":  # the same CPU measured again, and once not at all
            record["machine"]["bfloat16_slowdown"] = 20.1
        if run == "mid__syn_data__seed0":
            record["machine"]["cpu"] = {"model": "AMD EPYC", "capability": "AVX2"}
        if run == "high__syn_data__seed0":  # another precision, but it pretrained nothing: not counted
            record["pretrain"]["epochs"] = 0
            record["machine"]["precision"] = {"ran": "float32", "planned": "bfloat16"}
        if run == "high__syn_data__seed2":
            record["reused_from"] = "runs/ablations/other"
        (run_dir / "runs" / f"{run}.json").write_text(json.dumps(record))
    files = write_report(run_dir)
    text = files.markdown.read_text()
    rows = {r[0]: r for r in table_rows(text, "Compute")}
    # sorted: high 0, 1, 2 are runs 1-3 (600-1800 s of pretraining), low 4-6, mid 7-9; + 60 s each
    assert rows["ratio_high"] == ["ratio_high", "syn_data", "2", "200", "16 min", "32 min"]  # seed 2 copied
    assert rows["ratio_mid"] == ["ratio_mid", "syn_data", "3", "200", "1 h 21 min", "4 h 03 min"]
    line = " ".join(text.split("## Compute", 1)[1].split("|", 1)[0].split())
    assert "7 h 08 min over 8 runs" in line  # 600 s * (1 + 2 + 4 + ... + 9) + 8 * 60 s
    # the loads of runs 0, 1, 3..7 (the copied run 2 and the unrecorded 8 left out), + 0.4 at the ends
    assert "median 4.2, range 0.0-7.4 (1 run from before the record have none)" in line
    assert "2 CPUs (AMD EPYC, AVX2; bfloat16 17.3-20.1x slower than float32 there);" in line  # one CPU, once
    assert "1 run copied from another study" in line
    assert "1 run pretrained in float32 instead of the planned bfloat16" in line
    precision = {r["run"]: r["precision"] for r in csv.DictReader(files.csv.open())}
    assert precision["low__syn_data__seed0"] == "float32" and precision["low__syn_data__seed1"] == "bfloat16"
    assert precision["mid__syn_data__seed0"] == ""  # no config in the record: not known


def test_a_fused_row_sums_its_members_linear_probabilities_seed_by_seed(tmp_path):
    """Three clips of three classes. Seed 0: joint is right on clip 0 only, bone on clips 1 and 2,
    and their sum is right on all three (100%); seed 1: the bone run has no scores file (evaluated
    before they were kept), so no fused row, and the report says why; seed 2 lacks its bone run."""
    from asma.evaluation.results import write_scores

    labels = np.array([0, 1, 2])
    probs = {("joint", 0): [[0.9, 0.1, 0.0], [0.4, 0.35, 0.25], [0.45, 0.1, 0.45]],
             ("bone", 0): [[0.3, 0.7, 0.0], [0.0, 0.9, 0.1], [0.0, 0.4, 0.6]],
             ("joint", 1): [[0.9, 0.1, 0.0], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]]}
    scores = {"joint": {0: (0.0, 33.3), 1: (0.0, 100.0), 2: (0.0, 50.0)},
              "bone": {0: (0.0, 66.7), 1: (0.0, 0.0), 2: (0.0, 0.0)}}
    run_dir = make_run_dir(tmp_path, scores, drop=("bone__syn_data__seed2",))
    (run_dir / "evals").mkdir()
    for (variant, seed), p in probs.items():
        write_scores(run_dir / "evals" / f"{variant}__syn_data__seed{seed}.json", {"linear": np.array(p)}, labels)
    study = json.loads((run_dir / "study.json").read_text())
    study["default"] = "joint"
    study["variants"] = {"joint": {"label": "joint", "default": True, "overrides": {}},
                         "bone": {"label": "bone", "default": False, "overrides": {}},
                         "two": {"label": "joint + bone", "default": False, "overrides": {}, "fuse": ["joint", "bone"]}}
    study["factors"] = [{"name": "streams", "variants": ["joint", "bone", "two"]}]
    (run_dir / "study.json").write_text(json.dumps(study))
    files = write_report(run_dir)
    rows = {r["run"]: r for r in csv.DictReader(files.csv.open())}
    assert float(rows["two__syn_data__seed0"]["linear"]) == pytest.approx(100.0)
    assert rows["two__syn_data__seed0"]["fused_from"] == "joint__syn_data__seed0 + bone__syn_data__seed0"
    assert "two__syn_data__seed1" not in rows and "two__syn_data__seed2" not in rows
    markdown = files.markdown.read_text()
    assert "**Not fused** (1): two__syn_data__seed1: no linear scores of bone__syn_data__seed1" in markdown
    assert "- runs: 5 finished of 6" in markdown  # the fused row is not a run
    row = next(r for r in table_rows(markdown, "streams") if r[0] == "joint + bone")
    assert row[1] == "–" and row[4] == "**100.0 (n=1)**"  # no kNN; its linear cell: one seed fused, the best
    assert "| joint + bone | linear probes fused (summed class probabilities): `joint` + `bone` |" in markdown


def test_short_durations_and_single_counts_read_as_words():
    from asma.experiments.trial_progress import counted
    from asma.reports.compute import duration

    assert [duration(s) for s in (0, 0.2, 42, 59.4, 60, 90, 3 * 3600 + 300)] == \
        ["0 s", "1 s", "42 s", "59 s", "1 min", "2 min", "3 h 05 min"]
    assert (counted(1, "seed"), counted(3, "seed"), counted(0, "run")) == ("1 seed", "3 seeds", "0 runs")
