"""`serve` the API and the worklist page, and the one-command `demo`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from duecast.cli._common import console, err_console, load_settings, user_errors
from duecast.cli.data import generate, import_
from duecast.cli.models import promote_, train_

__all__ = ["demo", "serve"]


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
) -> None:
    """Serve the REST API and the worklist page (loads the champion bundle from models/)."""
    import os

    from serving import workers as serving_workers

    settings = load_settings()
    # One LightGBM/OpenMP thread per worker: a one-row prediction on a pool of threads
    # costs milliseconds of hand-off; workers give the parallelism instead.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    console.print(
        f"duecast API on http://{host}:{port} ({workers} worker(s)), store "
        f"{settings.database_url.split('://')[0]}, models {settings.models_dir}"
    )
    with _prometheus_multiproc_dir(workers), user_errors():
        code = serving_workers.serve(host, port, workers)
    if code:
        raise typer.Exit(code=code)


@contextmanager
def _prometheus_multiproc_dir(workers: int) -> Iterator[None]:
    """Prometheus multiprocess mode for several workers, so /metrics sums them all.

    The user's `PROMETHEUS_MULTIPROC_DIR` is kept (they empty it between runs); otherwise
    a fresh temporary folder is used and removed on exit.
    """
    import os
    import shutil
    import tempfile

    user_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if user_dir:
        if not Path(user_dir).is_dir():
            err_console.print(
                f"[bold red]error:[/] PROMETHEUS_MULTIPROC_DIR={user_dir} is not a directory"
            )
            raise typer.Exit(code=2)
        yield
        return
    if workers == 1:
        yield
        return
    # Set before uvicorn spawns the workers: each is a fresh interpreter, and
    # prometheus_client picks its mode when first imported there (never in this process).
    path = tempfile.mkdtemp(prefix="duecast-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    try:
        yield
    finally:
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        shutil.rmtree(path, ignore_errors=True)


def demo(
    customers: Annotated[int, typer.Option(min=10, help="Customers to generate.")] = 300,
    years: Annotated[float, typer.Option(min=1.0, help="Years of history.")] = 2.0,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port of the API.")] = 8000,
    no_serve: Annotated[
        bool, typer.Option("--no-serve", help="Stop after promotion instead of serving.")
    ] = False,
) -> None:
    """Generate, import, train, promote, then serve, on embedded defaults (DUECAST_HOME)."""
    from features.store import get_engine
    from serving.auth import create_api_key

    settings = load_settings()
    data_dir = settings.home / "demo-data"
    steps = 5 if no_serve else 6
    console.print(f"[bold]1/{steps} generate[/] {customers} customers, {years:g} years")
    generate(
        customers=customers, out=data_dir, seed=seed, years=years, end_date=None, default_rate=None
    )
    console.print(f"[bold]2/{steps} import[/] into {settings.database_url}")
    import_(directory=data_dir, mapping=None)
    console.print(f"[bold]3/{steps} train[/] (MLflow store {settings.mlflow_tracking_uri})")
    train_(as_of=None)
    console.print(f"[bold]4/{steps} promote[/]")
    try:
        promote_(force=False)
    except typer.Exit:
        # A re-run on the same data may not beat the champion: the demo keeps serving it.
        console.print("The earlier champion stays; the demo goes on with it.")
    console.print(f"[bold]5/{steps} API key[/] for the demo (role admin)")
    with user_errors():
        _, plaintext = create_api_key(get_engine(settings.database_url), role="admin", name="demo")
    console.print(f"X-API-Key: {plaintext}", highlight=False, soft_wrap=True)
    if no_serve:
        console.print("Done. Start the API with `duecast serve`.")
        return
    console.print(
        f"[bold]6/{steps} serve[/] collections workspace http://127.0.0.1:{port}/ (sign in "
        f"with the key above), API docs http://127.0.0.1:{port}/docs (Ctrl-C stops)"
    )
    serve(host="127.0.0.1", port=port, workers=1)
