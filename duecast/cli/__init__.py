"""The `duecast` command line: one module per command group.

Each command imports its layer lazily, so `duecast --help` stays fast and a command
pays only for what it uses. Domain errors (`DuecastError`) are printed as one clear
message with exit code 1; usage errors exit with 2 (typer's convention).

    data.py       generate, import, features
    models.py     train, evaluate, promote
    decisions.py  score, worklist
    remind.py     remind (automated reminder e-mails)
    serve.py      serve, demo
    keys.py       apikey create
"""

from __future__ import annotations

from typing import Annotated

import typer

from duecast.cli import data, decisions, models, remind, serve
from duecast.cli.keys import apikey_app
from kernel.logs import configure_logging

__all__ = ["app"]

app = typer.Typer(
    name="duecast",
    help="Predict late payment of invoices and turn it into decisions for AR teams.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug detail.")] = False,
) -> None:
    configure_logging("DEBUG" if verbose else "INFO")


app.command("generate")(data.generate)
app.command("import")(data.import_)
app.command("features")(data.features_)
app.add_typer(apikey_app, name="apikey")
app.command("train")(models.train_)
app.command("evaluate")(models.evaluate_)
app.command("promote")(models.promote_)
app.command("score")(decisions.score_)
app.command("worklist")(decisions.worklist_)
app.command("remind")(remind.remind_)
app.command("serve")(serve.serve)
app.command("demo")(serve.demo)
