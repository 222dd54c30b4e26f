"""`python -m duecast.cli`: the same as the `duecast` console script."""

from duecast.cli import app

app()
