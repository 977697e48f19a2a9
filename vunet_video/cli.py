"""The `vunet-video` command line: a thin layer over the Python API.

Every command turns a `VunetError` (bad input, existing output, missing model) into one
line on stderr and exit code 1; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import functools
import sys

import typer

from .errors import VunetError

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Make the person in a photo perform the motion of a driving video (Variational U-Net).")
dataset_app = typer.Typer(no_args_is_help=True, help="Build and inspect training sets.")
app.add_typer(dataset_app, name="dataset")


def user_errors(fn):
    """Report VunetError as one line and exit 1 instead of a traceback."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except VunetError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None
    return wrapper


# --- commands ------------------------------------------------------------------------------
# Commands register below with @app.command() and @user_errors, grouped by the data's path:
# pose -> dataset/train/eval -> render/transfer/sample -> animate -> batch.


def main() -> None:  # pragma: no cover - entry point for `python -m vunet_video`
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
