"""Ray's OptunaSearch as a search needs it: the searched metric told at the last epoch only, repeats
skipped, each trial's proxy curve kept in the study, orphans failed on restore.

Tune pickles the searcher into its experiment, so the getattr defaults below read searchers pickled
before an attribute existed (a search resumed across versions). Experiments saved before this module
was split out of asma.search.tuner name the class there; asma.search.tuner still imports it, so they
unpickle.
"""
from __future__ import annotations

import warnings

from asma.search.optuna_study import fail_orphans
from asma.search.repeats import RepeatGuard, point_key

try:  # subclassed below; keep the module importable without Ray
    from ray.tune.search.optuna import OptunaSearch
except ImportError:  # pragma: no cover - ray is a dependency
    OptunaSearch = object


class FinalMetricOptunaSearch(OptunaSearch):
    """OptunaSearch that accepts epoch reports without the searched metric.

    A metric from `evaluate:` (eval/linear) only comes with the last epoch; ASHA stops trials on
    the per-epoch kNN proxy meanwhile. A trial stopped before its last epoch is told to Optuna as
    pruned (no value), which is what it is.

    Each trial's per-epoch values go to the study as intermediate values, its last epoch's included.
    With a persistent study it also records each Optuna trial's Tune trial id (user attribute
    `tune_trial_id`, the folder `experiment/trial_<id>`), and on restore fails the trials asked after
    Tune's last snapshot of the searcher (asma.search.optuna_study.fail_orphans).
    """

    def skip_repeats(self, guard: RepeatGuard | None) -> None:
        """Run an untried point instead of one the sampler proposes again (asma.search.repeats)."""
        self._repeat_guard = guard

    def record_proxy(self, metric: str | None) -> None:
        """Keep each trial's per-epoch `metric` (the scheduler's proxy) and the epochs it ran as user
        attributes of its Optuna trial (`proxy_curve`, `epochs`), told once when it ends: the study
        alone then says how far each trial got, which a search continued without its Tune
        experiment needs (asma.search.continuation)."""
        self._proxy_metric, self._proxy_curves = metric, {}

    def suggest(self, trial_id: str):
        config = super().suggest(trial_id)
        guard = getattr(self, "_repeat_guard", None)  # None in searches pickled before repeats were skipped
        if guard is not None and config is not None:
            config = self._instead_of_a_repeat(trial_id, config, guard)
        if self._storage is not None and trial_id in self._ot_trials:
            self._ot_trials[trial_id].set_user_attr("tune_trial_id", trial_id)
        return config

    def _instead_of_a_repeat(self, trial_id: str, config: dict, guard: RepeatGuard):
        import optuna

        from ray.tune.search import Searcher

        ot_trial = self._ot_trials[trial_id]
        live = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.RUNNING)
        tried: dict = {}
        for t in self._ot_study.get_trials(deepcopy=False, states=live):
            if t.number != ot_trial.number:
                tried.setdefault(point_key(t.params), t.number)
        if point_key(ot_trial.params) not in tried:
            return config
        ot_trial.set_user_attr("repeat_of", tried[point_key(ot_trial.params)])
        self._ot_study.tell(ot_trial, state=optuna.trial.TrialState.FAIL)
        del self._ot_trials[trial_id]
        point = guard.draw(set(tried))
        if point is None:  # every point of the space has been tried: nothing is left to search
            return Searcher.FINISHED
        self._ot_study.enqueue_trial(point)
        return super().suggest(trial_id)

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        proxy = getattr(self, "_proxy_metric", None)  # None in searches pickled before it was kept
        if proxy is not None and proxy in result and "training_iteration" in result:
            measured = result.get("proxy_epoch", result["training_iteration"])  # not a carried value
            if measured == result["training_iteration"] and result[proxy] == result[proxy]:
                self._proxy_curves.setdefault(trial_id, {})[int(measured)] = float(result[proxy])
        if isinstance(self.metric, list) or self.metric in result:
            import optuna

            try:
                super().on_trial_result(trial_id, result)
            except optuna.exceptions.UpdateFinishedTrialError:
                pass  # told before an interruption and run again after the restore: the study keeps the first

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if result and trial_id not in self._completed_trials:
            # Tune hands the result a trial stops on (ASHA's, or the last epoch's) to on_trial_complete
            # only; report it too, so the study's per-epoch curve ends where the trial did. A trial
            # that ends by returning hands its last result to both: Optuna keeps it once, and warns.
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*is already reported")
                self.on_trial_result(trial_id, result)
        ot_trial = self._ot_trials.get(trial_id)
        if ot_trial is not None and getattr(self, "_proxy_metric", None) is not None:
            curve = self._proxy_curves.pop(trial_id, {})
            ot_trial.set_user_attr("proxy_curve", [[e, v] for e, v in sorted(curve.items())])
            if result and "training_iteration" in result:
                ot_trial.set_user_attr("epochs", int(result["training_iteration"]))
        super().on_trial_complete(trial_id, result, error)

    def restore(self, checkpoint_path: str) -> None:
        super().restore(checkpoint_path)
        if self._storage is not None:
            fail_orphans(self._ot_study, {t.number for t in self._ot_trials.values()})

