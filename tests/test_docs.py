"""The project documents itself: no file cites notes outside the repository,
and every ``docs/theory.md section N`` citation names a section that exists."""

import re
import shutil
import subprocess

import pytest
from conftest import REPO

THEORY = REPO / "docs" / "theory.md"
# Spelled in pieces so that this file does not match itself.
OUTSIDE = [re.escape(name) for name in ("MATH" + ".md", "DESIGN" + ".md", ".." + "/shared")]
FORBIDDEN = re.compile("|".join(OUTSIDE))
# "docs/theory.md section 4", "sections 4, 8", "sections 2, 3, 8 and 9", "sections 13-16",
# possibly broken over lines (in Markdown, or in a Python or YAML comment)
CITATION = re.compile(r"docs/theory\.md[\s#]+sections?[\s#]+(\d+(?:(?:\s*,\s*|\s*-\s*|\s+and\s+)\d+)*)")
HEADING = re.compile(r"^## (\d+)\. \S", re.M)


def project_files():
    """(path, text) of every text file git tracks or would track (untracked,
    not ignored: new files count before their first commit)."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    files = []
    for name in sorted({n.decode() for n in listed if n}):
        path = REPO / name
        if not path.is_file() or path.is_symlink():
            continue  # deleted in the working tree, or the link workflow/scripts/stepdiff
        raw = path.read_bytes()
        if b"\0" in raw[:8192]:
            continue  # binary (figures)
        files.append((name, raw.decode("utf-8", errors="replace")))
    return files


def theory_sections() -> list[int]:
    return [int(n) for n in HEADING.findall(THEORY.read_text())]


def test_no_file_points_outside_the_repository():
    hits = [
        f"{name}:{text.count(chr(10), 0, m.start()) + 1}: {m.group()}"
        for name, text in project_files()
        for m in FORBIDDEN.finditer(text)
    ]
    assert not hits, "files cite notes outside the repository:\n" + "\n".join(hits)


def test_theory_sections_are_numbered_from_one():
    sections = theory_sections()
    assert sections == list(range(1, len(sections) + 1)), sections
    assert len(sections) >= 16


def test_every_theory_citation_names_an_existing_section():
    sections = set(theory_sections())
    cited, missing = 0, []
    for name, text in project_files():
        for m in CITATION.finditer(text):
            for number in map(int, re.findall(r"\d+", m.group(1))):
                cited += 1
                if number not in sections:
                    line = text.count("\n", 0, m.start()) + 1
                    missing.append(f"{name}:{line}: section {number}")
    assert cited > 10, "the citation pattern found almost nothing: is it still right?"
    assert not missing, "citations of sections docs/theory.md does not have:\n" + "\n".join(missing)


def test_the_citation_pattern_reads_every_form():
    text = (
        "docs/theory.md section 4; (docs/theory.md\nsection 8); docs/theory.md sections 4, 8; "
        "docs/theory.md sections 2, 3, 8 and 9; # docs/theory.md\n    # section 11; "
        "docs/theory.md sections 13-16"
    )
    found = [re.findall(r"\d+", m.group(1)) for m in CITATION.finditer(text)]
    assert found == [["4"], ["8"], ["4", "8"], ["2", "3", "8", "9"], ["11"], ["13", "16"]]


def test_the_readme_says_which_process_and_denoiser_each_experiment_has():
    """The README's table of experiments is prose most likely to drift from
    the config (which process, which denoiser): each row must say what
    config/config.yaml says, every experiment must have a row."""
    import yaml

    experiments = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["experiments"]
    rows = {}
    for line in (REPO / "README.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0] in experiments:
            rows[cells[0]] = cells[2]
    assert set(rows) == set(experiments), f"rows for {sorted(rows)}, experiments {sorted(experiments)}"
    for name, exp in experiments.items():
        process = "diffusion" if "sigma" in exp else "linear flow"
        denoiser = (
            f"the {exp['network']}'s network"
            if "network" in exp
            else "ReLU MLP"
            if "model" in exp
            else "exact"
        )
        assert rows[name] == f"{process}, {denoiser}", (name, rows[name])
