"""Write one benchmark's `## Section` of docs/benchmarks.md, leaving the other sections as they are.

Bench scripts run as `python bench/bench_x.py` import it with bench/ on sys.path:

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from benchdocs import write_benchmark_section
"""
from __future__ import annotations

import re
from pathlib import Path

from asma.data.atomic import write_text_atomic

DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
_NEXT_SECTION = re.compile(r"^## ", re.M)


def write_benchmark_section(heading: str, text: str, docs: Path = DOCS) -> None:
    """Put `text` in place of the section of `docs` whose heading line is exactly `heading`.

    The section runs from its heading line up to the next line starting with "## " (or the end of the
    file); every byte outside it is kept. A missing section is appended at the end, a missing file is
    created with a "# Benchmarks" title. `text` is the whole section; its heading line is added when
    it does not start with it. Sections are separated by one blank line. The write is atomic.
    """
    docs = Path(docs)
    section = text if text.startswith(heading + "\n") or text == heading else f"{heading}\n\n{text}"
    section = section.rstrip("\n") + "\n"
    old = docs.read_text() if docs.exists() else "# Benchmarks\n"
    found = re.search(rf"^{re.escape(heading)}$", old, re.M)
    if found is None:
        new = old.rstrip("\n") + "\n\n" + section
    else:
        following = _NEXT_SECTION.search(old, found.end())
        new = old[:found.start()] + section + ("" if following is None else "\n" + old[following.start():])
    write_text_atomic(docs, new)
