"""The command line: parse, call the public API, render. No statistics here."""

from __future__ import annotations

from pathlib import Path

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


def main() -> None:
    """Console-script entry point: typed truelift errors become one-line messages, exit code 2."""
    try:
        app()
    except TrueliftError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        raise SystemExit(2) from None
