"""docs/readme_tables.py, which writes the result tables of README.md and
docs/results.md from results/, on a small synthetic results folder in the real
tables' column layout; and the two files themselves: a short README whose
headline tables are cut from the full ones in docs/results.md."""

import importlib.util
import itertools
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO

from stepdiff import captions, studies

spec = importlib.util.spec_from_file_location("readme_tables", REPO / "docs" / "readme_tables.py")
rt = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rt)

LONG = ["experiment", "sampler", "grid", "steps", "nfe", "denoiser", "n", "metric", "value", "noise_floor"]
README = "# Title\n\nProse with a number, 0.5, and `<!-- table:exp0 -->` inline.\n\n" + "".join(
    f"Before {name}.\n<!-- table:{name} -->\nstale table\n<!-- /table:{name} -->\nAfter {name}.\n\n"
    for name in [*rt.TABLES, *rt.HEADLINES]
)
# The same tables split as in the repository: the full ones in docs/results.md,
# the headline ones in the README.
SPLIT = {
    "README.md": "# Title\n\n"
    + "".join(f"<!-- table:{n} -->\nstale\n<!-- /table:{n} -->\n\n" for n in rt.HEADLINES),
    "docs/results.md": "# Results\n\n"
    + "".join(f"<!-- table:{n} -->\nstale\n<!-- /table:{n} -->\n\n" for n in rt.TABLES),
}
README_MD = REPO / "README.md"
RESULTS_MD = REPO / "docs" / "results.md"
LABELS = {"experiment", "denoiser", "sampler, grid", "sampler, grid, steps", "steps", "NFE", "samples"}
LABELS |= {"N", "sigma"}
# exact values, fits of exact errors, costs and ratios: no standard error to print
LABELS |= {"recipe", "change from base", "training CPU-s", "process", "sampler", "set", "g", "in SE"}
LABELS |= {"uniform", "sigma", "karras", "logsnr", "start's KL", "mean change at twice the steps"}
LABELS |= {"tilted", "ode", "sde", "ddim 500", "ddpm 500", "method", "teacher", "law"}
LABELS |= {"run", "wall (s)", "CPU (s)", "jobs", "rule", "CPU per job (s)"}  # make bench's measurement
MEASURED = re.compile(r"-?\d+\.\d+ ± \d+\.\d+( \((exact|floor) -?\d+\.\d+\))?( \(\w+\))?")


def study_table(results, study: str) -> Path:
    """Where a study's table lives (``results/studies/{study}/table.csv``), its folder made."""
    (results / "studies" / study).mkdir(parents=True, exist_ok=True)
    return results / "studies" / study / "table.csv"


def write_results(root):
    """metrics/*.csv as the workflow writes them, for every run a table shows."""
    metrics = root / "metrics"
    metrics.mkdir(parents=True)

    tables = {}

    def add(experiment, sampler, grid, steps, denoiser, n, values, floors=None):
        for metric, value in values.items():
            floor = (floors or {}).get(metric, float("nan"))
            row = (experiment, sampler, grid, steps, steps, denoiser, n, metric, value, floor)
            tables.setdefault(experiment, []).append(row)

    for sampler, grid, steps in rt.EXP0:
        moments = {"mean": 2.9, "mean_se": 0.003, "std": 0.7, "std_se": 0.002}
        add("exp0", sampler, grid, steps, "exact", 50000, {**moments, "exact_mean": 2.9, "exact_std": 0.7})
    for experiment, sampler, grid, steps in rt.POINT_MASSES:
        fractions = {"frac_at_mass_0": 0.5, "frac_at_mass_1": 0.4} if experiment != "exp1" else {}
        add(experiment, sampler, grid, steps, "exact", 1000, fractions or {"frac_at_mass_0": 1.0})
    for experiment, denoiser, sampler, grid, steps in rt.ROLL + rt.EXP4 + rt.FAST:
        values = {"energy": 0.004, "energy_se": 0.0012, "nn_median": 0.002, "nn_median_se": 3e-5}
        values |= {"curve_median": 2e-3, "curve_median_se": 4e-5, "curve_p99": 0.03, "curve_p99_se": 0.002}
        values |= {"curve_far": 0.04, "curve_far_se": 0.003}
        add(experiment, sampler, grid, steps, denoiser, 5000, values, {"energy": -7e-5, "nn_median": 4e-4})
    for experiment, rows in tables.items():
        pd.DataFrame(rows, columns=LONG).to_csv(metrics / f"{experiment}.csv", index=False)

    start = [(1, "prior", 0.0041, 0.0013), (1, "p1", -0.0001, 0.0003), (1, "learned", 0.0036, 0.0011)]
    start += [
        (3, "prior", 0.0001, 0.0004),
        (3, "p1", 0.0004, 0.0006),
        (float("nan"), "floor", 0.0003, 0.0006),
    ]
    start = pd.DataFrame(start, columns=["sigma", "start", "energy", "energy_se"])
    start.insert(2, "n", 3000)
    start.assign(nn_median=0.0004).to_csv(study_table(root, "start"), index=False)

    rows = []
    for size, learned in ((8, 0.8), (16, 0.4), (64, 0.1)):
        runs = [("none", "none", 0, "data", 0.3), ("ddim", "karras", 50, "ideal", 1.0)]
        runs += [("ddpm", "karras", 50, "ideal", 1.0), ("ddpm", "karras", 50, "learned", learned - 0.05)]
        for sampler, grid, steps, denoiser, fraction in [*runs, ("ddim", "karras", 50, "learned", learned)]:
            values = {"memorised": fraction, "energy": 0.01 / size, "energy_se": 0.002, "nn_median": 0.001}
            rows += [(size, sampler, grid, steps, steps, denoiser, 1000, m, v) for m, v in values.items()]
    columns = ["size", "sampler", "grid", "steps", "nfe", "denoiser", "n", "metric", "value"]
    pd.DataFrame(rows, columns=columns).to_csv(study_table(root, "memorisation"), index=False)

    training = {"variant": ["base", "eps", "exact"], "change": ["-", "target=eps", "exact denoiser"]}
    training |= {"train_cpu_s": [7.0, 6.5, None], "n": 2000, "curve_median": [4e-4, 5e-4, 2e-6]}
    training |= {"curve_median_se": 1e-5, "curve_far": [0.04, 0.05, 0.0], "error_small": [4e-7, 5e-7, None]}
    pd.DataFrame(training | {"error_small_se": [2e-8, 2e-8, None]}).to_csv(
        study_table(root, "training"), index=False
    )
    orders = [
        (sampler, grid, "diffusion", steps, 1e-2 / steps, 1.02 if grid != "uniform" else None)
        for sampler in ("ddim", "heun", "dpmpp_2m", "dpmpp_3m", "unipc")
        for grid in ("uniform", "karras")
        for steps in (10, 20)
    ]
    columns = ["sampler", "grid", "process", "steps", "error", "order"]
    pd.DataFrame(orders, columns=columns).to_csv(study_table(root, "orders"), index=False)
    lik = [("mix", "diffusion, sigma 1", "data", 2000, "entropy", 1.48, 0.02)]
    lik += [("mix", "diffusion, sigma 1", "start", 2000, "kl", 0.18, None)]
    for denoiser, kl in (("exact", 0.2), ("learned", 0.21)):
        lik += [("mix", "diffusion, sigma 1", denoiser, 2000, "kl", kl, 0.016)]
        lik += [("mix", "diffusion, sigma 1", denoiser, 2000, "nll", 1.68, 0.03)]
        lik += [("mix", "diffusion, sigma 1", denoiser, 2000, "ode_change_mean", 4e-4, None)]
    columns = ["set", "process", "denoiser", "n", "metric", "value", "se"]
    pd.DataFrame(lik, columns=columns).to_csv(study_table(root, "likelihood"), index=False)
    guide = []
    for g in (0.0, 1.0, 3.0, 7.0):
        for law, steps in (("tilted", 0), ("ode", 0), ("sde", 0), ("ddim", 500), ("ddpm", 500)):
            for metric, value in (("mean", 1.1), ("std", 0.3)):
                guide.append(("gaussian", g, law, "sigma", steps, "exact", 0, metric, value, 0.0))
        for denoiser in ("exact", "learned"):
            for metric, value, se in (
                ("energy", 0.4, 0.013),
                ("sector", 0.99, 0.0),
                ("energy_to_exact", 0.006, 0.0014),
            ):
                guide.append(("ring", g, "ddim", "karras", 40, denoiser, 2000, metric, value, se))
    columns = ["part", "scale", "sampler", "grid", "steps", "denoiser", "n", "metric", "value", "se"]
    pd.DataFrame(guide, columns=columns).to_csv(study_table(root, "guidance"), index=False)
    few = [("roll", "teacher", "exact", "", 0, 20, "curve_median", 2e-6, 1e-8)]
    few += [
        ("roll", m, "learned", "", 0, nfe, "curve_far", 0.04, 0.003)
        for m, nfe in (("distill", 1), ("reflow", 2))
    ]
    few += [
        ("roll", m, "learned", "", 0, nfe, "curve_median", 0.002, 3e-5)
        for m, nfe in (("distill", 1), ("reflow", 2))
    ]
    few += [("roll", "teacher", "exact", "", 0, 20, "curve_far", 0.0, 0.0)]
    few += [
        ("roll", "distill", "learned", "", 0, 1, f"error_{p}", 0.005, 1e-4)
        for p in ("student", "teacher", "total")
    ]
    few += [("roll", "reflow", "exact", "", 0, 0, "straightness", 0.005, 2e-4)]
    few += [("moons", "floor", "", "", s, 0, "w2", 0.10 + 0.01 * s, float("nan")) for s in (0, 1)]
    few += [
        ("moons", "flow", "", c, s, 1, "w2", 0.5 + s, float("nan"))
        for c in ("independent", "ot")
        for s in (0, 1)
    ]
    few_columns = ["part", "method", "teacher", "coupling", "seed", "nfe", "metric", "value", "se"]
    pd.DataFrame(few, columns=few_columns).to_csv(study_table(root, "fewstep"), index=False)
    hall = [(law, "law", "none", "none", 0, 0, 0, "tail", 4.0, "", 3e-4, 0.0) for law in ("grid", "modes")]
    for law, denoiser in itertools.product(("grid", "modes"), ("exact", "ideal", "network")):
        run = (law, denoiser, "ddim", "karras", 50, 50, 2500)
        hall.append((*run, "rate", 4.0, "", 0.05, 0.004))
        if law == "grid":
            hall += [(*run, m, 4.0, "", 0.02, 0.003) for m in ("lattice_axis", "lattice_diagonal")]
        hall += [(*run, m, 4.0, w, 0.97, 0.01) for m in ("auc", "removed") for w in ("last", "mid")]
    roll = ("roll", "network", "heun", "karras", 25, 49, 5000)
    hall += [(*roll, "rate", 0.01, "", 0.001, 0.0004)]
    hall += [(*roll, m, 0.01, w, 0.99, 0.01) for m in ("auc", "removed") for w in ("last", "mid")]
    hall_columns = ["law", "denoiser", "sampler", "grid", "steps", "nfe", "n", "metric", "k", "window"]
    pd.DataFrame(hall, columns=[*hall_columns, "value", "se"]).to_csv(
        study_table(root, "hallucination"), index=False
    )


COST = {
    "date": "2026-01-01",
    "target": "all",
    "cores": 2,
    "machine_cores": 2,
    "runs": [{"wall_s": 400.2, "cpu_s": 800.7, "jobs": 3}, {"wall_s": 410.0, "cpu_s": 790.0, "jobs": 3}],
    "rules": {"train_network": {"jobs": 1, "cpu_s": 190.0}, "figure": {"jobs": 2, "cpu_s": 3.0}},
}


@pytest.fixture
def results(tmp_path, monkeypatch):
    write_results(tmp_path / "results")
    (tmp_path / "cost.json").write_text(json.dumps(COST))
    monkeypatch.setattr(rt, "COST", tmp_path / "cost.json")
    return tmp_path / "results"


def test_the_cost_is_what_make_bench_recorded(results):
    """Every run's wall and CPU seconds and each rule's CPU, as recorded, sorted by CPU."""
    text = rt.cost(results)
    assert "| 1 | 400 | 801 | 3 |" in text and "| 2 | 410 | 790 | 3 |" in text
    assert text.index("`train_network` | 1 | 190 | 190.0") < text.index("`figure` | 2 | 3 | 1.5")
    assert "| all jobs | 3 | 193 | 64.3 |" in text and "2026-01-01" in text
    rt.COST.unlink()
    with pytest.raises(SystemExit, match="cost.json is missing: run `make bench`"):
        rt.cost(results)


def blocks(text):
    return {m.group(2): text[m.end(1) : m.start(3)] for m in rt.MARKER.finditer(text)}


def test_tables_are_replaced_and_the_rest_is_untouched(results):
    new = rt.render(README, results)
    assert set(blocks(new)) == set(rt.TABLES) | set(rt.HEADLINES)
    for name, block in blocks(new).items():
        assert "stale" not in block and block.count("\n|") >= 3, name
    # outside the markers, byte for byte
    assert rt.MARKER.sub(r"\1\3", new) == rt.MARKER.sub(r"\1\3", README)
    assert rt.render(new, results) == new


def write_split(folder):
    paths = {}
    for name, text in SPLIT.items():
        paths[name] = folder / name
        paths[name].parent.mkdir(parents=True, exist_ok=True)
        paths[name].write_bytes(text.encode())
    return ["--readme", str(paths["README.md"]), "--results-doc", str(paths["docs/results.md"])], paths


def test_the_script_rewrites_both_files_once_then_changes_nothing(results, tmp_path):
    args, paths = write_split(tmp_path / "repo")
    rt.main(["--results", str(results), *args])
    first = {name: path.read_bytes() for name, path in paths.items()}
    for name, text in SPLIT.items():
        assert first[name] != text.encode() and b"stale" not in first[name], name
    rt.main(["--results", str(results), *args])
    assert {name: path.read_bytes() for name, path in paths.items()} == first
    # the same results in a fresh copy: byte-identical files
    args, again = write_split(tmp_path / "again")
    rt.main(["--results", str(results), *args])
    assert {name: path.read_bytes() for name, path in again.items()} == first


def test_headline_tables_are_rows_and_columns_of_the_full_ones(results):
    new = {name: blocks(text) for name, text in rt.render_files(SPLIT, results).items()}
    for name, headline in rt.HEADLINES.items():
        cut = rt.subset(name, new["docs/results.md"][headline.table].strip(), headline)
        assert new["README.md"][name] == f"\n{cut}\n\n"
        full = new["docs/results.md"][headline.table].splitlines()
        for line in new["README.md"][name].strip().splitlines():
            if line.startswith("| ") and headline.columns is None:
                assert line in full, (name, line)


def test_a_table_in_both_files_or_in_neither_is_named(results):
    both = {
        **SPLIT,
        "README.md": SPLIT["README.md"] + "<!-- table:orders_fitted -->\n<!-- /table:orders_fitted -->\n",
    }
    with pytest.raises(SystemExit, match=r"more than once: orders_fitted \(in README.md, docs/results.md\)"):
        rt.render_files(both, results)
    neither = {**SPLIT, "docs/results.md": SPLIT["docs/results.md"].replace("table:likelihood_sets", "x")}
    with pytest.raises(SystemExit, match=r"in none of README.md, docs/results.md: likelihood_sets"):
        rt.render_files(neither, results)
    with pytest.raises(SystemExit, match="do not pair"):
        rt.render_files({**SPLIT, "README.md": "<!-- table:headline_exp0 -->\n"}, results)


def test_a_missing_headline_row_is_named(results):
    table = pd.read_csv(results / "studies" / "orders" / "table.csv")
    table[table["sampler"] != "heun"].to_csv(results / "studies" / "orders" / "table.csv", index=False)
    with pytest.raises(SystemExit, match="headline_orders: table orders_fitted has no row diffusion, Heun"):
        rt.render_files(SPLIT, results)


def test_the_start_studys_caption_shows_its_docs_table_without_the_experiments(results):
    """The start study's ``result_table`` reads its own table alone: the
    report's caption shows docs/results.md's table less the learned
    experiments' column, which docs/readme_tables.py adds from their tables."""
    own = captions.study_table(studies.module("starts"), pd.read_csv(results / "studies/start/table.csv"))
    full = rt.TABLES["start_sigmas"](results).split("\n")
    assert "experiments (DDIM, karras, 50)" in full[0] and "(exp3)" in full[2] and "(exp7)" in full[-3]
    assert "experiments" not in own and own.split("\n")[-1] == full[-1]  # the floor
    for line in own.split("\n"):
        assert any(row.startswith(line[: -len("|")] if line.startswith("|") else line) for row in full), line


@pytest.mark.parametrize("table", ["metrics/exp4.csv", "studies/start/table.csv"])
def test_a_missing_table_is_named(results, table):
    (results / table).unlink()
    with pytest.raises(SystemExit, match=re.escape(table) + ".*make run"):
        rt.render(README, results)


def test_a_missing_run_is_named(results):
    table = pd.read_csv(results / "metrics" / "exp7.csv")
    table[table["sampler"] != "heun"].to_csv(results / "metrics" / "exp7.csv", index=False)
    with pytest.raises(SystemExit, match="exp7.csv has no run .*sampler=heun"):
        rt.render(README, results)


@pytest.mark.parametrize(
    "text, message",
    [("<!-- table:exp0 -->\n", "do not pair"), ("<!-- table:nope -->\n<!-- /table:nope -->\n", "unknown")],
)
def test_bad_markers_are_refused(results, text, message):
    with pytest.raises(SystemExit, match=message):
        rt.render(text, results)


def cells(line):
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def test_every_number_is_printed_with_its_error(results):
    """Table cells: labels (steps, sizes) or ``value ± se``, with an exact value
    or a floor beside it; the lines around the tables: errors and intervals."""
    for name, block in blocks(rt.render(README, results)).items():
        lines = block.strip().splitlines()
        for i, line in enumerate(lines):
            if line.startswith("|---"):
                continue
            if i + 1 < len(lines) and lines[i + 1].startswith("|---"):
                header = cells(line)
            elif line.startswith("|"):
                for column, cell in zip(header, cells(line), strict=True):
                    assert column in LABELS or cell == "" or MEASURED.fullmatch(cell), (name, column, cell)
            else:
                rest = re.sub(r"-?\d+\.\d+ ± \d+\.\d+|N = [\d.]+ \([\d.]+ to [\d.]+\)", "", line)
                assert not re.search(r"\d\.\d", rest), (name, line)


def test_formatting():
    assert rt.pm(0.99900, 0.000999) == "0.9990 ± 0.0010"  # two digits of the error, as rounded
    assert rt.pm(-0.00001, 0.0012) == "0.0000 ± 0.0012"  # no "-0.0000"
    assert rt.binomial(1.0, 1000) == "1.000 ± 0.000"
    assert rt.binomial(0.5, 1000) == "0.500 ± 0.016"


# The repository's own README.md and docs/results.md (no results/ needed).


def test_the_readme_is_short():
    lines = README_MD.read_text().splitlines()
    assert len(lines) <= 320, f"README.md has {len(lines)} lines: move results to docs/results.md"


def test_every_table_is_marked_once_in_one_of_the_two_files():
    found = [*rt.markers(README_MD.read_text()), *rt.markers(RESULTS_MD.read_text(), "docs/results.md")]
    assert sorted(found) == sorted([*rt.TABLES, *rt.HEADLINES])
    assert set(rt.markers(README_MD.read_text())) == set(rt.HEADLINES)


def test_the_readme_links_to_the_results():
    assert "](docs/results.md)" in README_MD.read_text()


def test_the_readme_headlines_are_cut_from_docs_results():
    """The committed numbers agree: each README headline table is what the
    script cuts from its full table in docs/results.md."""
    full, headline = blocks(RESULTS_MD.read_text()), blocks(README_MD.read_text())
    for name, spec in rt.HEADLINES.items():
        assert headline[name].strip() == rt.subset(name, full[spec.table].strip(), spec), name


@pytest.mark.parametrize("path", [README_MD, RESULTS_MD], ids=["README.md", "docs/results.md"])
def test_relative_links_and_figures_exist(path):
    targets = re.findall(r"\]\(([^)\s]+)\)", path.read_text())
    local = [t.split("#")[0] for t in targets if "://" not in t and not t.startswith("#")]
    assert local, "no relative links found: is the pattern still right?"
    missing = [t for t in local if not (path.parent / t).exists()]
    assert not missing, f"{path.name} links to missing files: {missing}"
