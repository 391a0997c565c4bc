"""The committed example report links only files that are committed with it."""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "example-report"


def tracked() -> set[str]:
    out = subprocess.run(["git", "ls-files", "docs/example-report"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    return set(out.split())


def test_every_file_the_example_report_links_is_committed():
    files = tracked()
    if not files:  # not a git checkout (e.g. an sdist): nothing to check against
        return
    for page in ("report.md", "index.html"):
        text = (EXAMPLE / page).read_text()
        links = set(re.findall(r'(?:src|href)="([^"#:]+)"', text))
        links |= set(re.findall(r"\]\(([^)#:]+)\)", text))
        assert links, page
        missing = sorted(x for x in links if f"docs/example-report/{x}" not in files)
        assert not missing, f"{page} links files that are not committed: {missing}"
