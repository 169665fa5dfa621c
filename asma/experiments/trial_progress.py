"""A rich progress bar in the driver that Ray Tune callbacks feed, for `asma ablate` and `asma tune`.

Tune pickles its callbacks into the experiment (for restore), so the callback holds no state
(asma.experiments.tune_run.ProgressCallback): it hands each trial event to the progress bar that is
active in this driver process (`active()`), whose subclass says what the event adds. `counted` words
the counts the driver (and the reports) print: `1 seed`, `3 seeds`.
"""
from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

_ACTIVE: list["TrialProgress"] = []


def active() -> "TrialProgress | None":
    return _ACTIVE[-1] if _ACTIVE else None


def counted(n: int, noun: str) -> str:
    """`1 seed`, `3 seeds`: a count with its noun in the number it takes (nouns with a plain -s plural)."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


class TrialProgress:
    """One bar over `total` units of work (epochs, evaluations); subclasses say what a result adds."""

    def __init__(self, console: Console, total: int, unit: str):
        self.seen: dict[str, int] = {}
        self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn(unit), TimeElapsedColumn(), console=console)
        self.task = self.progress.add_task("starting trials", total=total)

    def __enter__(self):
        self.progress.start()
        _ACTIVE.append(self)
        return self

    def __exit__(self, *exc) -> None:
        _ACTIVE.remove(self)
        self.progress.stop()

    def advance_to(self, key: str, reached: int, description: str) -> None:
        """Move the bar by what `key` did since its last report (reports may repeat on restore)."""
        step = max(0, reached - self.seen.get(key, 0))
        self.seen[key] = max(reached, self.seen.get(key, 0))
        self.progress.update(self.task, advance=step, description=description)

    def trial_result(self, trial, result: dict) -> None:
        """A Tune trial reported `result`."""
        raise NotImplementedError

    def trial_complete(self, trial) -> None:
        """A Tune trial ended (its last result is `trial.last_result`)."""

    def trial_error(self, trial) -> None:
        """A Tune trial failed."""
        raise NotImplementedError

    def error(self, key: str, where) -> None:
        self.progress.console.print(f"[red]failed[/] {key} (see {where}/error.txt)", highlight=False)
