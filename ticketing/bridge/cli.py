"""`flask hotline ...`: import a hotline export, and manage the partners' webhooks.

    flask hotline import FILE [--format csv|json] [--mapping la311|FILE.json] [--dry-run] [--report OUT.csv]
                              [--batch N] [--at ISO-TIME] [--list-disagreements N]
    flask hotline webhooks add NAME URL [--source la311 ...] [--secret S]
    flask hotline webhooks list | pause NAME | resume NAME
    flask hotline webhooks log [--partner NAME] [--state pending|sent|dead] [--limit N]

Each command parses, calls `ticketing.bridge` and commits, like `ticketing.cli`.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from ticketing.cli import _fail, _now
from ticketing.errors import DomainError
from ticketing.extensions import db

hotline_cli = AppGroup("hotline", help="The 12345 / 311 hotline bridge: import exports, push changes back.")
webhooks_cli = AppGroup("webhooks", help="Partners that hear of ticket state changes (signed webhooks).")
hotline_cli.add_command(webhooks_cli)


@hotline_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default=None,
              help="the export's format (default: from the file name)")
@click.option("--mapping", "mapping_spec", default="la311", show_default=True,
              help="a shipped mapping's name, or a mapping JSON file (docs/hotline.md)")
@click.option("--dry-run", is_flag=True, help="report what would be created, skipped or rejected; write nothing")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="write every row's outcome to this .csv or .xlsx file")
@click.option("--list-disagreements", "show", type=int, default=25, show_default=True,
              help="how many routing disagreements to print (-1: all)")
@click.option("--batch", type=click.IntRange(1, 10_000), default=1000, show_default=True,
              help="rows written (and committed) per batch")
@click.option("--at", default=None, help="pretend it is this ISO time (deadlines start then)")
def import_export(
    path: Path, fmt: str | None, mapping_spec: str, dry_run: bool, report_path: Path | None, show: int, batch: int,
    at: str | None,
) -> None:
    """Import a hotline export FILE as tickets, routed by polygon; idempotent on the hotline's numbers."""
    from ticketing.bridge import hotline
    from ticketing.tabular import render

    if report_path is not None and report_path.suffix.lower() not in (".csv", ".xlsx"):
        raise click.ClickException("--report names a .csv or .xlsx file")
    try:
        mapping = hotline.load_mapping(mapping_spec)
        report = hotline.import_file(
            path, mapping=mapping, now=_now(at), settings=current_app.extensions["ticket_settings"], fmt=fmt,
            dry_run=dry_run, batch=batch, after_batch=None if dry_run else db.session.commit,
        )
    except DomainError as e:
        _fail(e)
    if dry_run:
        db.session.rollback()  # nothing was written; leave no transaction open either
    else:
        db.session.commit()
    click.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    wrong = report.disagreements()
    listed = wrong if show < 0 else wrong[:show]
    if wrong:
        click.echo(f"routing disagrees with the recorded unit on {len(wrong)} rows"
                   + ("" if len(listed) == len(wrong) else f" (first {len(listed)} listed; all: "
                      "--list-disagreements -1 or --report)") + (":" if listed else ""))
        for r in listed:
            click.echo(f"  row {r.index} {r.external_id} ({r.lat}, {r.lon}): recorded {r.expected_unit}, "
                       f"routed {r.covering_unit or 'outside every boundary'}")
    if report_path is not None:
        data, _ = render(report.table(current_app.config["TIMEZONE"]), report_path.suffix.lower()[1:])
        report_path.write_bytes(data)
        click.echo(f"per-row report written to {report_path}")
    counts = report.counts()
    verb = "would create" if dry_run else "created"
    click.echo(f"{counts['rows']} rows: {verb} {counts['created']}, skipped {counts['skipped']}, "
               f"rejected {counts['rejected']}" + (" (dry run: nothing written)" if dry_run else ""))


@webhooks_cli.command("add")
@click.argument("name")
@click.argument("url")
@click.option("--source", "sources", multiple=True,
              help="only tickets from this source (repeatable); none: every ticket")
@click.option("--secret", default=None, help="the shared secret (default: a new random one, printed once)")
def add_partner(name: str, url: str, sources: tuple[str, ...], secret: str | None) -> None:
    """Add a partner NAME whose URL hears of every state change of the tickets it follows."""
    from ticketing.bridge import webhooks

    try:
        sub, key = webhooks.subscribe(name=name, url=url, secret=secret, sources=list(sources) or None,
                                      now=_now(None))
    except DomainError as e:
        _fail(e)
    db.session.commit()
    click.echo(f"partner {sub.name} → {sub.url} ({', '.join(sub.sources) if sub.sources else 'every ticket'})")
    click.echo(f"secret (give it to the partner; it is not shown again): {key}")


@webhooks_cli.command("list")
def list_partners() -> None:
    """List partners with their deliveries by state (secrets are never shown)."""
    from ticketing.bridge import webhooks

    for p in webhooks.subscription_summary():
        state = "active" if p["active"] else "paused"
        sources = ", ".join(p["sources"]) if p["sources"] else "every ticket"
        counts = ", ".join(f"{k} {v}" for k, v in p["deliveries"].items())
        click.echo(f"{p['name']}  {state}  {p['url']}  ({sources})  {counts}")


@webhooks_cli.command("pause")
@click.argument("name")
def pause_partner(name: str) -> None:
    """Stop queueing pushes for NAME (pending ones are given up when due)."""
    _set_active(name, False)


@webhooks_cli.command("resume")
@click.argument("name")
def resume_partner(name: str) -> None:
    """Queue pushes for NAME again (changes made while paused are not sent)."""
    _set_active(name, True)


def _set_active(name: str, active: bool) -> None:
    from ticketing.bridge import webhooks

    try:
        webhooks.set_active(name, active)
    except DomainError as e:
        _fail(e)
    db.session.commit()
    click.echo(f"partner {name} {'resumed' if active else 'paused'}")


@webhooks_cli.command("log")
@click.option("--partner", default=None)
@click.option("--state", type=click.Choice(["pending", "sent", "dead"]), default=None)
@click.option("--ticket", "ticket_number", default=None, help="one ticket's number")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
def delivery_log(partner: str | None, state: str | None, ticket_number: str | None, limit: int) -> None:
    """The delivery log, newest first: attempts, state, the partner's last status and error."""
    from ticketing.bridge import webhooks
    from ticketing.models import Ticket

    query = webhooks.deliveries_query(partner=partner, state=state, ticket_number=ticket_number).limit(limit)
    for d in db.session.scalars(query):
        number = db.session.get(Ticket, d.ticket_id).number  # type: ignore[union-attr]
        click.echo(f"{d.id}  {d.subscription.name}  {number}  event {d.event_id}  {d.state.value}  "
                   f"attempts {d.attempts}  status {d.last_status if d.last_status is not None else '-'}  "
                   f"{d.last_error[:120]}")
