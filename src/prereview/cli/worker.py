"""`prereview worker`: run the assessments the service queued, outside the web process."""

from __future__ import annotations

import typer

from prereview.cli.common import err_console, new_app, settings

app = new_app("Run queued assessments (the service's worker).")


@app.command()
def worker(
    once: bool = typer.Option(False, "--once", help="Run what is queued now, then exit."),
    poll: float = typer.Option(1.0, "--poll", help="Seconds between looks at the queue."),
) -> None:
    """Run queued assessments one at a time; resume those a stopped worker left running.

    One worker per data dir: a second one exits at once."""
    from prereview.service.jobs import JobQueue
    from prereview.service.worker import Worker, worker_lock
    from prereview.vault.service import Vault

    conf = settings().require_initialized()
    with worker_lock(conf) as mine:
        if not mine:
            err_console.print("a worker already runs for this data dir")
            return
        with Vault.open(conf) as vault:
            runner = Worker(conf, JobQueue(vault.db), poll_s=poll)
            if once:
                for job in runner.drain():
                    err_console.print(f"{job.id} ({job.submission_id}): {job.status}")
            else:
                runner.loop()
