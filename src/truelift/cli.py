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
    out: Path = typer.Option(Path("truelift-report.html"), "--out", help="HTML file to write."),
    seed: int = typer.Option(42, help="Random seed."),
    n_users: int = typer.Option(50_000, "--n-users", help="Number of simulated users."),
) -> None:
    """Simulate the AI-product table, analyse it and write a self-contained HTML report."""
    from truelift.report.demo import build_demo

    path = build_demo(out, n_users=n_users, seed=seed)
    console.print(f"wrote report to {path}")


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
    result = run(read_table(file), design=design, estimator=estimator, **kwargs)
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
    """Recommend a design from how the feature was rolled out."""
    from truelift.advisor import recommend as rec

    answer = rec(
        randomized=randomized,
        randomization_unit=unit,
        voluntary_use=voluntary,
        waves=waves,
        never_treated_group=not no_never_treated,
        threshold=threshold,
        single_treated_unit=single_unit,
        donor_pool=donors,
        pre_period=not no_pre_period,
        opt_in=opt_in,
        selection_drivers_observed=drivers_observed,
        question="who_benefits" if who_benefits else "effect",
    )
    console.print(answer.summary("text"), highlight=False, markup=False)


def main() -> None:
    """Console-script entry point: typed truelift errors become one-line messages, exit code 2."""
    try:
        app()
    except TrueliftError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        raise SystemExit(2) from None
