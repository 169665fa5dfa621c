"""The search's Optuna study, kept in storage that optuna-dashboard and `optuna.load_study` open.

Default: Optuna's JournalStorage on a file in the search folder, `<out_dir>/tune/<name>/study.journal`;
`asma tune --storage URL` puts it in an RDB instead (`sqlite:///searches.db`, `postgresql://...`).
The study is named after the search (no timestamp), and `study.json` beside the journal says
where it lives. Open it with::

    optuna-dashboard runs/tune/masking/study.journal
    optuna-dashboard sqlite:///searches.db

Ray's OptunaSearch writes every proposal, per-epoch value and result to the study as the search
runs. On `--resume`, Tune unpickles the searcher with its storage and the study is read back from
that storage: the resumed search adds trials to the same study.
"""
from __future__ import annotations

import json
import shlex
import warnings
from dataclasses import dataclass
from pathlib import Path

from asma.data.atomic import write_json_atomic
from asma.errors import AsmaError, ConfigError

JOURNAL_FILE = "study.journal"
RECORD_FILE = "study.json"


@dataclass(frozen=True)
class StudyLocation:
    """Where a search's study lives: a journal file, or an RDB URL (`url` set)."""

    study_name: str
    journal: Path
    url: str | None = None

    @property
    def shown(self) -> str:
        """The journal's path, or the URL without its password: what optuna-dashboard takes."""
        if self.url is None:
            return str(self.journal)
        from sqlalchemy.engine import make_url

        return make_url(self.url).render_as_string(hide_password=True)

    def dashboard_command(self) -> str:
        return f"optuna-dashboard {shlex.quote(self.shown)}"

    def open(self):
        """An Optuna storage instance (what Ray's OptunaSearch takes)."""
        import optuna
        from optuna.storages.journal import JournalFileBackend

        if self.url is None:
            self.journal.parent.mkdir(parents=True, exist_ok=True)
            return optuna.storages.JournalStorage(JournalFileBackend(str(self.journal)))
        try:
            return optuna.storages.RDBStorage(self.url)
        except Exception as e:  # sqlalchemy's errors: a malformed URL, a missing driver, a refused connection
            raise ConfigError("--storage", self.shown, f"cannot open it as an Optuna RDB storage: "
                              f"{type(e).__name__}: {str(e).splitlines()[0]} (e.g. sqlite:///searches.db)") from None


def study_location(name: str, run_dir: Path, url: str | None = None) -> StudyLocation:
    if url is not None and "://" not in url:
        raise ConfigError("--storage", url, "takes an RDB URL such as sqlite:///searches.db; without "
                          f"--storage the study is a journal file, {run_dir / JOURNAL_FILE}")
    return StudyLocation(name, run_dir / JOURNAL_FILE, url)


def recorded_location(run_dir: Path) -> StudyLocation | None:
    """The study.json of a search; None for a search started before studies were stored."""
    path = run_dir / RECORD_FILE
    if not path.exists():
        return None
    saved = json.loads(path.read_text())
    return StudyLocation(saved["study_name"], run_dir / JOURNAL_FILE, saved.get("url"))


def resumed_location(name: str, run_dir: Path, url: str | None) -> StudyLocation | None:
    """The study a resumed search goes on with; `--storage`, if given, must name the same one."""
    saved = recorded_location(run_dir)
    if saved is not None and url is not None and study_location(name, run_dir, url).shown != saved.shown:
        raise AsmaError(f"{run_dir / RECORD_FILE}: this search's study is in {saved.shown}, not {url}; "
                        "resume without --storage (or with the same one)")
    return saved


def quiet_optuna() -> None:
    """Optuna's INFO lines off in this process: it would say "A new study created" for the study
    `create_study` makes, then "Using an existing study" when Ray's OptunaSearch opens that same
    study by name; the search prints one line of its own for it (`asma.search.tuner._describe`)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)


def create_study(location: StudyLocation, metrics: list[str], modes: list[str], source: str):
    """Create the study a new search writes to (Ray's OptunaSearch then loads it by name).

    A study of that name that already holds trials belongs to another search: refused, so that a
    new search never mixes its trials into an old one. An empty one is replaced.
    """
    import optuna

    quiet_optuna()
    storage = location.open()
    existing = {s.study_name: s for s in optuna.get_all_study_summaries(storage)}
    if location.study_name in existing:
        held = existing[location.study_name].n_trials
        if held:
            drop = (f"remove {location.journal}" if location.url is None else
                    f"delete it (optuna delete-study --study-name {location.study_name} "
                    f"--storage {shlex.quote(location.shown)})")
            raise AsmaError(f"{location.shown} already holds an Optuna study {location.study_name!r} with {held} "
                            "trials; pass --resume to continue that search, give a new one another `name:` in "
                            f"its file, or {drop}")
        optuna.delete_study(study_name=location.study_name, storage=storage)
    study = optuna.create_study(storage=storage, study_name=location.study_name,
                                directions=["maximize" if m == "max" else "minimize" for m in modes])
    with warnings.catch_warnings():  # set_metric_names is "experimental" since Optuna 3.2
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(list(metrics))
    study.set_user_attr("search_space", source)
    return storage


def write_record(run_dir: Path, location: StudyLocation) -> None:
    write_json_atomic(run_dir / RECORD_FILE, {"study_name": location.study_name, "url": location.url,
                                              "open_with": location.dashboard_command()})


def fail_orphans(study, known_numbers: set[int]) -> list[int]:
    """Tell FAIL the running trials that Tune's restored state does not know; returns their numbers.

    Tune snapshots its searcher every few seconds; an interrupted search may have asked Optuna for
    trials after the last snapshot. The resumed search never runs them, so they would stay RUNNING
    in the study forever. Their numbers are kept in the study's user attribute `never_run`.
    """
    from optuna.trial import TrialState

    orphans = [t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
               if t.number not in known_numbers]
    for number in orphans:
        study.tell(number, state=TrialState.FAIL)
    if orphans:
        study.set_user_attr("never_run", sorted(set(study.user_attrs.get("never_run", [])) | set(orphans)))
    return orphans
