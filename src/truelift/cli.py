"""The command line: parse, call the public API, render. No statistics here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

import truelift
from truelift.errors import TrueliftError

app = typer.Typer(
    name="truelift",
    help="What did your AI feature really do? Causal effects for rollouts, opt-ins and routers.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True, soft_wrap=True)


def _version(value: bool) -> None:
    if value:
        console.print(f"truelift {truelift.__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """truelift command line."""


@app.command()
def simulate(
    scenario: str = typer.Option("saas", help="Scenario name (see `truelift scenarios`)."),
    seed: int = typer.Option(42, help="Random seed."),
    n_users: int | None = typer.Option(
        None, "--n-users", help="Number of users (default: scenario's)."
    ),
    out: Path = typer.Option(..., "--out", help="Output file: .csv or .parquet."),
) -> None:
    """Simulate a scenario and write its data to CSV or Parquet."""
    from truelift.io import write_table

    sim = truelift.simulate(scenario, n_users=n_users, seed=seed)
    path = write_table(sim.data, out)
    console.print(f"wrote {len(sim.data):,} rows x {sim.data.shape[1]} columns to {path}")
    for key, value in sim.truths.items():
        console.print(f"  true {key} = {value:+.4f}")


@app.command()
def scenarios() -> None:
    """List the simulator's scenarios."""
    from truelift.simulate import describe
    from truelift.simulate import scenarios as names

    for name in names():
        first = describe(name).splitlines()[0] if describe(name) else ""
        console.print(f"[bold]{name}[/bold]: {first}")


@app.command()
def demo(
    out: Path = typer.Option(
        Path("truelift-report"),
        "--out",
        help="Report folder (index.html, index.md, index.json) or an .html file.",
    ),
    seed: int = typer.Option(42, help="Random seed."),
    n_users: int = typer.Option(
        50_000, "--n-users", help="Users in the naive-comparison table (saas scenario)."
    ),
) -> None:
    """Simulate every scenario, pick and run each design, compare with the truth, write a report."""
    import json

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from truelift.report.demo import build_demo, demo_steps

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task("starting", total=demo_steps())

        def step(label: str) -> None:
            bar.update(task, advance=1, description=label[:48])

        path = build_demo(out, n_users=n_users, seed=seed, progress=step)
    table = Table(title="truelift demo: design answer vs truth")
    for col in ("question", "design", "status", "answer", "truth"):
        table.add_column(col)
    for a in json.loads(path.with_suffix(".json").read_text(encoding="utf-8")):
        head, truth = a["headline"], a["truth"]
        table.add_row(
            a["question"].split("?")[0] + "?",
            a["design"],
            a["status"],
            "—" if head is None else f"{head:+.4f}",
            "—" if truth is None else f"{truth:+.4f}",
        )
    console.print(table)
    console.print(
        f"wrote report to {path} (+ {path.with_suffix('.md').name}, {path.with_suffix('.json').name})"
    )


def _split(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


@app.command()
def analyze(
    file: Path = typer.Argument(..., help="CSV or Parquet file (read through DuckDB)."),
    design: str | None = typer.Option(
        None,
        help="experiment, iv, did, propensity, rdd, synth, uplift; "
        "omitted: detected from the columns.",
    ),
    estimator: str | None = typer.Option(None, help="A design's other estimator, e.g. ipw, twfe."),
    treatment: str | None = typer.Option(None, help="Treatment (or variant) column."),
    outcome: str | None = typer.Option(None, help="Outcome column."),
    covariates: str | None = typer.Option(None, help="Comma-separated covariate columns."),
    unit: str | None = typer.Option(None, help="Unit column (panels)."),
    time: str | None = typer.Option(None, help="Time column (panels)."),
    cohort: str | None = typer.Option(None, help="First-treated-period column (staggered DiD)."),
    running: str | None = typer.Option(None, help="Running variable (RDD)."),
    cutoff: float | None = typer.Option(None, help="Cut-off of the running variable (RDD)."),
    instrument: str | None = typer.Option(None, help="Instrument column (IV)."),
    cluster: str | None = typer.Option(None, help="Cluster column for robust SEs."),
    missing: str = typer.Option("raise", help="raise or drop rows with missing values."),
    engine: str = typer.Option(
        "duckdb",
        help="Where the data are aggregated: duckdb (default; the file is read lazily), spark "
        "(local, or Spark Connect via $SPARK_REMOTE / --spark-remote) or memory.",
    ),
    spark_remote: str | None = typer.Option(
        None, "--spark-remote", help="Spark Connect address, e.g. sc://host:15002."
    ),
    report: Path = typer.Option(
        Path("truelift-report.html"), help="Report file: .html, .md or .json."
    ),
) -> None:
    """Analyse a data file with a design, print the answer and write a report."""
    from truelift.analysis import analyze as run
    from truelift.io import read_table
    from truelift.report.analysis import write_report

    options = {
        "treatment": treatment,
        "outcome": outcome,
        "covariates": _split(covariates),
        "unit": unit,
        "time": time,
        "cohort": cohort,
        "running": running,
        "cutoff": cutoff,
        "instrument": instrument,
        "cluster": cluster,
    }
    kwargs: dict[str, Any] = {k: v for k, v in options.items() if v is not None}
    if missing != "raise":
        kwargs["missing"] = missing
    table = read_table(file, engine, spark_remote=spark_remote)  # type: ignore[arg-type]
    result = run(table, design=design, estimator=estimator, **kwargs)
    console.print(result.summary("text"), highlight=False, markup=False)
    path = write_report([result], report)
    console.print(f"wrote report to {path}")


@app.command()
def recommend(
    randomized: bool = typer.Option(False, help="Access was randomized."),
    unit: str | None = typer.Option(None, help="Randomization unit: user, workspace, time_slot."),
    voluntary: bool = typer.Option(False, help="Use was voluntary after access (non-compliance)."),
    waves: bool = typer.Option(False, help="Shipped in waves / cohorts."),
    no_never_treated: bool = typer.Option(False, help="Every unit was eventually treated."),
    threshold: bool = typer.Option(False, help="A score threshold decided who got it."),
    single_unit: bool = typer.Option(False, help="One unit launched with no holdout."),
    donors: bool = typer.Option(False, help="Untreated comparable units were observed."),
    no_pre_period: bool = typer.Option(False, help="No data from before the launch."),
    opt_in: bool = typer.Option(False, help="Users chose to turn it on."),
    drivers_observed: bool = typer.Option(False, help="What drives opt-in is observed."),
    who_benefits: bool = typer.Option(False, help="The question is who benefits."),
) -> None:
    """Recommend a design from how the feature was rolled out.

    With no flags in an interactive terminal, asks the questions instead.
    """
    import sys

    from truelift.advisor import recommend as rec

    facts: dict[str, Any] = {
        "randomized": randomized,
        "randomization_unit": unit,
        "voluntary_use": voluntary,
        "waves": waves,
        "never_treated_group": not no_never_treated,
        "threshold": threshold,
        "single_treated_unit": single_unit,
        "donor_pool": donors,
        "pre_period": not no_pre_period,
        "opt_in": opt_in,
        "selection_drivers_observed": drivers_observed,
        "question": "who_benefits" if who_benefits else "effect",
    }
    flags_given = any(
        (randomized, unit, voluntary, waves, no_never_treated, threshold, single_unit, donors)
    ) or any((no_pre_period, opt_in, drivers_observed, who_benefits))
    if not flags_given and sys.stdin.isatty():
        facts = _ask()
    answer = rec(**facts)
    console.print(answer.summary("text"), highlight=False, markup=False)


def _ask() -> dict[str, Any]:
    """The advisor's questions, asked in the terminal (only the ones that matter)."""
    ask = typer.confirm
    facts: dict[str, Any] = {
        "question": "who_benefits"
        if ask("Is the question who benefits (rather than the average effect)?", default=False)
        else "effect"
    }
    facts["randomized"] = ask("Was access to the feature randomized?", default=False)
    if facts["randomized"]:
        facts["randomization_unit"] = typer.prompt(
            "Randomized by user, workspace or time_slot?", default="user"
        )
        facts["voluntary_use"] = ask(
            "Could people with access choose not to use it?", default=False
        )
        return facts
    facts["threshold"] = ask("Did a score threshold decide who got it?", default=False)
    if facts["threshold"]:
        return facts
    facts["waves"] = ask(
        "Did it ship in waves (cohorts switching on at different times)?", default=False
    )
    if facts["waves"]:
        facts["never_treated_group"] = ask("Is there a group that never got it?", default=True)
        facts["pre_period"] = ask("Do you have data from before the first wave?", default=True)
        return facts
    facts["single_treated_unit"] = ask(
        "Was it launched to one product/region/platform all at once, with no holdout?",
        default=False,
    )
    if facts["single_treated_unit"]:
        facts["donor_pool"] = ask("Are comparable untreated units observed?", default=False)
        facts["pre_period"] = ask("Do you have data from before the launch?", default=True)
        return facts
    facts["opt_in"] = ask("Did users choose to turn it on (opt-in)?", default=False)
    if facts["opt_in"]:
        facts["selection_drivers_observed"] = ask(
            "Do you observe what drives the choice (usage, tier, tenure...)?", default=False
        )
    return facts


def main() -> None:
    """Console-script entry point: typed truelift errors become one-line messages, exit code 2."""
    try:
        app()
    except TrueliftError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        raise SystemExit(2) from None
