"""The ``gendesign`` command: one entry point, one sub-app per area."""

from __future__ import annotations

import logging
import signal
import sys

import typer
from rich.console import Console
from rich.logging import RichHandler

from gendesign.cli.align import align_command
from gendesign.cli.audit import audit_command
from gendesign.cli.campaign import campaign_command, report_command
from gendesign.cli.data import data_app
from gendesign.cli.generate import sample_command, train_command
from gendesign.cli.judges import judges_app
from gendesign.cli.predictor import predict_command, predictor_app
from gendesign.cli.relax import relax_command
from gendesign.errors import GendesignError, Interrupted
from gendesign.notices import quiet_third_party, set_verbose

app = typer.Typer(
    name="gendesign",
    help="Generative inverse design of inorganic crystals: generate, audit, screen, relax, rank.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(data_app, name="data")
app.add_typer(predictor_app, name="predictor")
app.add_typer(judges_app, name="judges")
app.command("audit")(audit_command)
app.command("predict")(predict_command)
app.command("relax")(relax_command)
app.command("train")(train_command)
app.command("sample")(sample_command)
app.command("campaign")(campaign_command)
app.command("report")(report_command)
app.command("align")(align_command)
error_console = Console(stderr=True)


@app.callback()
def _setup(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show debug logging."),
) -> None:
    set_verbose(verbose)
    quiet_third_party()
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=error_console, show_path=False)],
    )


def _stop_as_on_ctrl_c(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    """Run the CLI; a GendesignError becomes one red sentence and exit code 2.

    SIGTERM (``kill``, a batch scheduler, ``timeout``) stops a command as Ctrl-C does:
    a campaign keeps its finished batches, and worker pools are shut down instead of
    being left running without their parent.
    """
    signal.signal(signal.SIGTERM, _stop_as_on_ctrl_c)
    try:
        # standalone_mode=False: typer returns the exit code (130 after an unhandled
        # Ctrl-C) instead of exiting, so errors and interrupts are reported here
        code = app(standalone_mode=False)
    except Interrupted as err:
        error_console.print(f"[bold yellow]interrupted:[/] {err}", soft_wrap=True)
        sys.exit(err.exit_code)
    except GendesignError as err:
        error_console.print(f"[bold red]error:[/] {err}", soft_wrap=True)
        sys.exit(2)
    if code == Interrupted.exit_code:
        error_console.print("[bold yellow]interrupted:[/] stopped before it finished.")
    if isinstance(code, int) and code:
        sys.exit(code)
