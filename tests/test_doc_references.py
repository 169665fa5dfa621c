"""Every Markdown file the code, presets, studies and search spaces cite is one a reader can open."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GENERATED = {"summary.md", "report.md"}  # what `asma tune` and `asma report` write, named bare
OUTSIDE = ("shared/",)  # the cluster's shared folder, beside the checkout, not in it


def cited_markdown() -> dict[str, list[str]]:
    files = [*ROOT.glob("asma/**/*.py"), *ROOT.glob("asma/presets/*.yaml"), *ROOT.glob("ablations/*.yaml"),
             *ROOT.glob("search_spaces/*.yaml")]
    cited: dict[str, list[str]] = {}
    for file in files:
        for name in re.findall(r"[A-Za-z0-9_./-]*\.md\b", file.read_text()):
            cited.setdefault(name, []).append(str(file.relative_to(ROOT)))
    return cited


def test_every_cited_markdown_file_exists():
    cited = cited_markdown()
    assert "docs/method.md" in cited
    missing = {name: where for name, where in cited.items()
               if name not in GENERATED and not name.startswith(OUTSIDE) and not (ROOT / name).is_file()}
    assert not missing, f"cited but not in the repository (docs live in docs/, lower case): {missing}"
