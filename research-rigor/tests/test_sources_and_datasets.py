"""`seeds --vary` and comparisons on several datasets, through the commands' own code on runs
written to disk (no training): the groups trained, the numbers against an independent
computation, the JSON, the refusals, and every verdict, name and number whole at 80 columns."""

import contextlib
import io
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from omegaconf import OmegaConf
from rich.console import Console
from scipy import stats
from statsmodels.stats.multitest import multipletests
from test_experiments import write_run

from research_rigor.errors import UserError
from research_rigor.experiments import across, affected, cli, compare, output, sources
from research_rigor.experiments.runs import Plan, Run, Variant, sweep_size
from research_rigor.project import Project
from research_rigor.provenance import RECORD_FILE
from research_rigor.stats import Analysis

SOURCES = {"init": "seeds.init", "order": "seeds.order", "augment": "seeds.augment"}
PROJECT = Project(Path("/project"), "probe", seed_sources=SOURCES)
# test/acc of seeds 0-4 with one source varied (the others fixed), and all varied together
VARIED = {
    "init": (0.950, 0.962, 0.941, 0.958, 0.969),
    "order": (0.955, 0.957, 0.951, 0.956, 0.953),
    "augment": (0.954, 0.954, 0.954, 0.954, 0.954),  # a mode without random augmentation
    "together": (0.948, 0.963, 0.944, 0.957, 0.966),
}


def log_at_80_columns(monkeypatch) -> io.StringIO:
    """Everything the commands print, as a non-interactive 80-column log (CI, `| tee`)."""
    log = io.StringIO()
    monkeypatch.setattr(output, "console", Console(file=log, width=80, force_terminal=False))
    return log


def assert_whole(log: str, cells: list[str]) -> None:
    """No cell cut or folded: each one on a line of the log, or its words all there."""
    shown = [line for line in log.splitlines() if not line.startswith("written: ")]  # paths
    assert "…" not in log and max(map(len, shown)) <= 80
    words = set(log.split())
    for cell in cells:
        assert cell in log or set(cell.split()) <= words, cell


def test_vary_trains_each_source_alone_then_together_and_shares_the_variance(tmp_path, monkeypatch):
    trained: dict[str, tuple[str, ...]] = {}

    def measure(checkouts, variants, plan, out_dir):
        trained.update({variant.label: variant.overrides for variant in variants})
        return {
            v.label: [
                write_run(out_dir / v.label / str(seed), seed, value=VARIED[v.label][seed])
                for seed in plan.seeds
            ]
            for v in variants
        }

    monkeypatch.setattr(sources, "measure", measure)
    monkeypatch.setattr(sources, "Checkouts", lambda root: contextlib.nullcontext())
    log = log_at_80_columns(monkeypatch)
    plan = Plan(PROJECT, tuple(range(5)), "fast")
    chosen = sources.sources_of("init,order,augment", PROJECT)
    sources.run_command(Variant("seeds", None, ("x=1",)), chosen, plan, tmp_path)
    # each source alone: every other declared source pinned at seed 5, which no run varies
    assert trained == {
        "init": ("x=1", "seeds.order=5", "seeds.augment=5"),
        "order": ("x=1", "seeds.init=5", "seeds.augment=5"),
        "augment": ("x=1", "seeds.init=5", "seeds.order=5"),
        "together": ("x=1",),
    }
    record = json.loads((tmp_path / "seeds.json").read_text())["variance"]
    variances = {name: np.var(VARIED[name], ddof=1) for name in chosen}
    for name in chosen:
        expected = variances[name] / sum(variances.values())
        assert record["sources"][name]["share"] == pytest.approx(expected)
    assert record["sources"]["augment"]["share"] == 0
    assert record["together"]["variance"] == pytest.approx(np.var(VARIED["together"], ddof=1))
    shown = log.getvalue()
    assert_whole(shown, ["largest source: init", "init", "order", "augment", "together"])
    init_share = variances["init"] / sum(variances.values())
    assert "seeds.augment" in shown and f"{init_share:.0%} of the variance" in shown


@pytest.mark.parametrize(
    ("vary", "project", "message"),
    [
        ("init,order", Project(Path("/p"), "probe"), "declares no seed-sources"),
        ("init,dropout", PROJECT, "dropout is not a declared source"),
        ("init", PROJECT, "2 sources or more"),
        ("init,init", PROJECT, "2 sources or more"),
    ],
)
def test_vary_refuses_sources_it_cannot_vary(vary, project, message):
    with pytest.raises(UserError, match=message):
        sources.sources_of(vary, project)


def test_a_sweep_multiplies_the_runs_a_variant_must_finish():
    assert sweep_size(["data=a,b,c", "model.lr=1e-3", "~model.scheduler"]) == 3
    assert sweep_size(["data=a,b", "data.fold=0,1,2"]) == 6 and sweep_size([]) == 1


@pytest.mark.parametrize(
    "command",
    [
        ["seeds", "data=a,b"],
        ["seeds", "--common", "data=a,b", "--vary", "init,order"],
        ["compare", "--common", "data=a,b", "--until-decided", "--max-seeds", "10"],
    ],
)
def test_one_dataset_commands_refuse_several_before_training(command, monkeypatch):
    parser = cli.argparse.ArgumentParser()
    cli.add_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(command)
    monkeypatch.setattr(
        cli, "plan_of", lambda args, project: Plan(PROJECT, (0, 1), None, tuple(args.common))
    )
    with pytest.raises(UserError, match="data=a,b names 2: run it once per dataset"):
        args.run(args, PROJECT)


def on_dataset(
    directory: Path, seed: int, dataset: str, value: float, data_config: dict | None = None
) -> Run:
    """A run as train.py records it on one dataset of a `data=a,b,c` sweep."""
    write_run(directory, seed, data_version=f"v-{dataset}", value=value, data_config=data_config)
    record = directory / RECORD_FILE
    record.write_text(json.dumps({**json.loads(record.read_text()), "dataset": dataset}))
    return Run.load(directory, PROJECT)


BASE = (0.90, 0.91, 0.92)


def compared(
    tmp_path, monkeypatch, gains: dict[str, float], margin: float | None = None
) -> tuple[dict, str]:
    """`compare` of two sides on the datasets of `gains`, each side's runs on disk."""

    def measure(checkouts, variants, plan, out_dir):
        return {
            v.label: [
                on_dataset(
                    out_dir / v.label / f"{name}-{seed}",
                    seed,
                    name,
                    BASE[seed] + (gain if v.label != "baseline" else 0) + 0.004 * seed**2,
                )
                for name, gain in gains.items()
                for seed in plan.seeds
            ]
            for v in variants
        }

    monkeypatch.setattr(compare, "measure", measure)
    monkeypatch.setattr(compare, "Checkouts", lambda root: contextlib.nullcontext())
    monkeypatch.setattr(affected, "untrained_moves", lambda *arguments: [])
    log = log_at_80_columns(monkeypatch)
    variants = [Variant("baseline", "main"), Variant("experiment-long-name", "exp/dropout")]
    plan = Plan(PROJECT, (0, 1, 2), "fast", (f"data={','.join(gains)}",))
    testing = Analysis(margin=margin)
    compare.run_command("compare", lambda checkouts: variants, plan, testing, tmp_path)
    return json.loads((tmp_path / "compare.json").read_text()), log.getvalue()


def test_three_datasets_get_a_verdict_each_and_no_made_up_combined_one(tmp_path, monkeypatch):
    gains = {"digits": 0.08, "letters": 0.06, "faces": -0.001}
    record, log = compared(tmp_path, monkeypatch, gains)
    assert list(record["datasets"]) == list(gains)
    verdicts = {
        name: part["variants"][1]["against_baseline"]["verdict"]
        for name, part in record["datasets"].items()
    }
    assert verdicts == {"digits": "progression", "letters": "progression", "faces": "inconclusive"}
    combined = record["across_datasets"]["experiment-long-name"]
    assert combined["verdict"] == "none" and combined["smallest_p_value"] == 0.25
    assert "Wilcoxon signed-rank test over datasets" in combined["method"]
    assert_whole(log, ["experiment-long-name across 3 datasets: no combined verdict"])
    assert "needs 6 datasets or more; with 3 the smallest p is 0.25" in " ".join(log.split())
    for name in gains:
        assert f"compare on {name}: test/acc" in log


def test_six_datasets_give_one_verdict_that_no_dataset_dominates(tmp_path, monkeypatch):
    # five small losses and one large gain: the mean of the Δs is a gain, the datasets are not
    gains = {f"set{i}": -0.002 for i in range(5)} | {"huge": 0.2}
    record, log = compared(tmp_path, monkeypatch, gains)
    combined = record["across_datasets"]["experiment-long-name"]
    assert np.mean(list(combined["differences"].values())) > 0
    # by hand: losses rank 1-5 (ties share 3), the gain ranks 6: W = min(6, 15) = 6
    assert combined["statistic"] == 6 and combined["verdict"] == "inconclusive"
    assert_whole(log, ["experiment-long-name across 6 datasets: inconclusive"])
    # six gains: every sign one way, the exact p is 2 / 2**6
    gains = {f"set{i}": 0.01 * (i + 1) for i in range(6)}
    record, log = compared(tmp_path / "gains", monkeypatch, gains)
    combined = record["across_datasets"]["experiment-long-name"]
    assert combined["p_value"] == pytest.approx(2 / 2**6) and combined["verdict"] == "progression"
    assert_whole(log, ["experiment-long-name across 6 datasets: progression"])


def test_a_margin_gives_one_sided_combined_verdicts_with_its_names(tmp_path, monkeypatch):
    # five slight losses, each inside the margin: two-sided, too few datasets for any verdict
    gains = {f"set{i}": -0.001 * (i + 1) for i in range(5)}
    record, log = compared(tmp_path, monkeypatch, gains, 0.01)
    combined = record["across_datasets"]["experiment-long-name"]
    assert combined["margins"] == dict.fromkeys(gains, 0.01)
    assert [part["margin"] for part in record["datasets"].values()] == [0.01] * 5
    d = np.array(list(combined["differences"].values()))
    assert d == pytest.approx(list(gains.values()))

    def scipys(values, alternative: str) -> float:
        return stats.wilcoxon(values, zero_method="zsplit", alternative=alternative).pvalue

    assert combined["p_non_inferiority"] == pytest.approx(scipys(d + 0.01, "greater"))
    assert combined["p_equivalence"] == pytest.approx(
        max(scipys(d + 0.01, "greater"), scipys(d - 0.01, "less"))
    )
    assert combined["p_worse"] == pytest.approx(scipys(d, "less")) == 1 / 32
    assert combined["p_better"] == pytest.approx(scipys(d, "greater"))
    assert combined["verdict"] == "equivalent" and "one-sided" in combined["method"]
    assert_whole(log, ["experiment-long-name across 5 datasets: equivalent"])
    flat = " ".join(log.split())
    assert (
        "one-sided Wilcoxon signed-rank tests over datasets against each dataset's margin" in flat
    )
    assert "margins ±0.01 on each dataset" in flat
    # four datasets: one-sided tests need five at 0.05
    record, log = compared(tmp_path / "four", monkeypatch, dict(list(gains.items())[:4]), 0.01)
    combined = record["across_datasets"]["experiment-long-name"]
    assert combined["verdict"] == "none" and combined["smallest_p_value"] == 1 / 16
    assert "needs 5 datasets or more; with 4 the smallest p is 0.0625" in " ".join(log.split())


def test_shadow_adjusts_each_claim_over_the_variants_and_reads_the_verdict_off_them():
    names = [f"set{i}" for i in range(5)]
    losses = {name: SimpleNamespace(difference=-0.02 - 0.001 * i) for i, name in enumerate(names)}
    gains = {name: SimpleNamespace(difference=0.002 * (i + 1)) for i, name in enumerate(names)}
    per_dataset = {name: {"a": losses[name], "b": gains[name]} for name in names}
    margins = dict.fromkeys(names, 0.01)
    alone = across.combined(per_dataset, ["a"], 0.05, margins)["a"]
    assert alone["verdict"] == "worse" and alone["p_worse"] == pytest.approx(1 / 32)
    found = across.combined(per_dataset, ["a", "b"], 0.05, margins)
    for claim in ("p_better", "p_equivalence", "p_non_inferiority", "p_worse"):
        raw = [found[label][claim] for label in "ab"]
        holm = multipletests(raw, 0.05, "holm")[1]
        assert [found[label]["p_values_adjusted"][claim] for label in "ab"] == pytest.approx(holm)
    # 1/32 twice: Holm's 1/16 for both, not under 0.05
    assert found["a"]["p_values_adjusted"]["p_worse"] == pytest.approx(1 / 16)
    assert found["a"]["verdict"] == found["b"]["verdict"] == "inconclusive"
    notes = " ".join(across.verdict_notes(found, 0.05))
    assert "p worse = 0.0625, Holm-adjusted over the variants" in notes


def reported(tmp_path, monkeypatch, margins: dict[str, float | None]) -> tuple[dict, str]:
    """`across.report` of slight losses on datasets whose data configs declare `margins`."""
    results = {
        label: [
            on_dataset(
                tmp_path / label / f"{name}-{seed}",
                seed,
                name,
                BASE[seed] + (-0.001 * (i + 1) if label != "baseline" else 0),
                {"margin": margin} if margin is not None else None,
            )
            for i, (name, margin) in enumerate(margins.items())
            for seed in range(3)
        ]
        for label in ("baseline", "experiment")
    }
    log = log_at_80_columns(monkeypatch)
    variants = [Variant("baseline", "main"), Variant("experiment", "exp/x")]
    plan = Plan(PROJECT, (0, 1, 2), "fast", (f"data={','.join(margins)}",))
    across.report("compare", variants, results, plan, Analysis(), tmp_path, [])
    record = json.loads((tmp_path / "compare.json").read_text())
    return record["across_datasets"]["experiment"], " ".join(log.getvalue().split())


def test_each_dataset_is_shifted_by_its_own_data_configs_margin(tmp_path, monkeypatch):
    margins = {"a": 0.0005, "b": 0.01, "c": 0.01, "d": 0.01, "e": 0.01}
    combined, log = reported(tmp_path, monkeypatch, margins)
    # a's loss of 0.001 is past its own margin: a's d + m is below 0 (rank 1 of 5), so
    # non-inferiority is not shown, and the losses are worse; with b's margin on a, equivalent
    assert combined["margins"] == margins and combined["verdict"] == "worse"
    assert combined["p_non_inferiority"] == pytest.approx(2 / 32)
    assert "margins a ±0.0005, b ±0.01" in log
    # a dataset without a margin: the two-sided test, as without any, and the note says so
    combined, log = reported(tmp_path / "mixed", monkeypatch, margins | {"a": None})
    assert "margins" not in combined and combined["method"].startswith("Wilcoxon")
    assert "Margins on b, c, d, e only: the combined verdict is the two-sided test" in log


def test_a_project_names_each_sources_seed_key(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    table = '[tool.research-rigor]\npackage = "probe"\n'
    pyproject.write_text(table + 'seed-sources = { init = "seeds.init", order = "loader.seed" }\n')
    project = Project.find(tmp_path)
    cfg = OmegaConf.create({"seed": 3, "seeds": {"init": "${seed}"}, "loader": {"seed": 7}})
    assert project.source_seeds(cfg) == {"init": 3, "order": 7} and project.datasets == "data"
    pyproject.write_text(table + 'seed-sources = ["init"]\n')
    with pytest.raises(UserError, match="seed-sources names each source's config key"):
        Project.find(tmp_path)


def test_a_dataset_one_side_did_not_train_on_is_refused(tmp_path, monkeypatch):
    results = {
        "baseline": [on_dataset(tmp_path / "b", 0, "digits", 0.9)],
        "experiment": [on_dataset(tmp_path / f"e{i}", 0, name, 0.9) for i, name in enumerate("ab")],
    }
    plan = Plan(PROJECT, (0,), None)
    variants = [Variant("baseline", "main"), Variant("experiment", "exp/x")]
    with pytest.raises(
        UserError, match="experiment did not train on digits: sweep the datasets in --common"
    ):
        across.report("compare", variants, results, plan, Analysis(), tmp_path, [])
