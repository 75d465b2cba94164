"""`flask ...` commands for setup and operations. Each parses, calls services, commits."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import select

from ticketing.errors import DomainError
from ticketing.extensions import db
from ticketing.models import OrgUnit


def _as_command_line() -> None:
    """Admin changes made by a command go to the audit log as the command line's (nobody signs in)."""
    from ticketing.services import audit

    token = audit.begin(None, None, via="cli")
    click.get_current_context().call_on_close(lambda: audit.end(token))


users_cli = AppGroup("users", help="Users and API tokens.", callback=_as_command_line)
boundaries_cli = AppGroup("boundaries", help="Boundary generations: import, list, activate.",
                          callback=_as_command_line)
calendar_cli = AppGroup("calendar", help="The working-day calendar.", callback=_as_command_line)
demo_cli = AppGroup("demo", help="Demo deployments built from real public data.")


def _now(at: str | None) -> datetime:
    if not at:
        return datetime.now(timezone.utc)
    moment = datetime.fromisoformat(at)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _fail(error: DomainError) -> None:
    db.session.rollback()
    raise click.ClickException(f"{error.code}: {error.message}")


@users_cli.command("create")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(["deputy", "handler", "supervisor", "admin"]))
@click.option("--unit", "unit_code", default=None, help="org unit code")
@click.option("--name", "display_name", default=None)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def create_user(username: str, role: str, unit_code: str | None, display_name: str | None, password: str) -> None:
    """Create a user."""
    from ticketing.services import auth

    try:
        auth.create_user(
            username=username, password=password, display_name=display_name or username, role=role,
            unit_code=unit_code, now=_now(None),
        )
    except DomainError as e:
        _fail(e)
    db.session.commit()
    click.echo(f"created {username} ({role})")


@users_cli.command("token")
@click.argument("username")
@click.option("--days", default=None, type=int)
@click.option("--scope", "scopes", multiple=True, type=click.Choice(["read", "write"]),
              help="what the token may do (repeat; default: read and write)")
@click.option("--label", default="cli", show_default=True, help="which client holds the token")
def create_token(username: str, days: int | None, scopes: tuple[str, ...], label: str) -> None:
    """Print a new API token for USERNAME."""
    from ticketing.models import User
    from ticketing.services import auth

    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        raise click.ClickException(f"no user {username!r}")
    try:
        token = auth.issue_token(user, _now(None), days=days or int(current_app.config["API_TOKEN_DAYS"]),
                                 label=label, scopes=scopes or None)
    except DomainError as e:
        _fail(e)
    db.session.commit()
    click.echo(token)


@users_cli.command("locks")
def list_locks() -> None:
    """List the sign-in lock-outs in force (usernames and client addresses)."""
    from ticketing.services import auth

    now = _now(None)
    locks = auth.current_locks(now)
    for lock in locks:
        click.echo(f"{lock.kind.value}\t{lock.key}\tuntil {lock.locked_until.isoformat(timespec='seconds')}")
    if not locks:
        click.echo("no lock-out in force")


@users_cli.command("unlock")
@click.argument("username", required=False)
@click.option("--ip", default=None, help="also (or only) unlock this client address")
def unlock(username: str | None, ip: str | None) -> None:
    """Lift the sign-in lock-out of USERNAME (and/or --ip) and forget its failed attempts."""
    from ticketing.services import auth

    try:
        lifted = auth.unlock(username=username, ip=ip)
    except DomainError as e:
        _fail(e)
    db.session.commit()
    click.echo(f"lifted {lifted} lock-out(s)")


@users_cli.command("otp")
@click.argument("username")
@click.option("--on/--off", "required", required=True, help="require a one-time code at sign-in, or stop")
def require_otp(username: str, required: bool) -> None:
    """Require (or stop requiring) a one-time code by SMS or email when USERNAME signs in."""
    from ticketing.services import auth

    try:
        auth.set_otp_required(auth.user_by_username(username), required)
    except DomainError as e:
        _fail(e)
    db.session.commit()
    click.echo(f"{username}: one-time code {'required' if required else 'not required'}")


@boundaries_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--key-field", required=True, help="feature property naming the unit")
@click.option("--match", type=click.Choice(["code", "name"]), default="code", help="match the key to unit code or name")
@click.option("--crs", type=click.Choice(["wgs84", "gcj02", "bd09"]), default="wgs84")
@click.option("--label", default=None)
@click.option("--activate", is_flag=True, help="activate the new generation at once")
def import_boundaries(path: Path, key_field: str, match: str, crs: str, label: str | None, activate: bool) -> None:
    """Import GeoJSON polygons into a new (inactive) generation and print the report."""
    from geo import importer
    from ticketing.services import org

    now = _now(None)
    try:
        features = importer.parse_features(json.loads(path.read_text(encoding="utf-8")))
    except (UnicodeDecodeError, json.JSONDecodeError, importer.InvalidGeoJSON) as e:
        raise click.ClickException(f"{path} is not a GeoJSON file: {e}") from None
    prepared, _report = importer.prepare_boundaries(features, key_field=key_field, crs=crs)
    units, ambiguous = org.boundary_keys(match)
    clashes = sorted({p.key for p in prepared} & ambiguous)
    if clashes:
        # A name shared by several units cannot say which one the polygon belongs to.
        raise click.ClickException(f"names shared by several units: {', '.join(clashes)}; use --match code")
    try:
        gen = importer.import_generation(
            db.session, prepared, units=units, label=label or path.name, source=str(path), crs=crs, now=now,
            report=_report,
        )
    except importer.ImportRejected as e:
        db.session.rollback()
        # The report is what tells the admin which features failed and why.
        click.echo(json.dumps({"generation": None, "report": e.report.as_dict()}, ensure_ascii=False, indent=2))
        reasons = Counter(item["reason"] for item in e.report.rejected)
        summary = ", ".join(f"{n} {reason}" for reason, n in sorted(reasons.items()))
        raise click.ClickException(
            f"nothing imported from {path.name} (rejected: {summary or 'no features'}); "
            f"no generation was created. Check --key-field {key_field!r} and --match {match}."
        ) from None
    except ValueError as e:
        db.session.rollback()
        raise click.ClickException(str(e)) from None
    org.audit_boundary_import(gen)
    if activate:
        org.activate_boundaries(gen.id, now)
    db.session.commit()
    click.echo(json.dumps({"generation": gen.id, "active": gen.active, "report": gen.report}, ensure_ascii=False, indent=2))


@boundaries_cli.command("activate")
@click.argument("generation_id", type=int)
def activate_boundaries(generation_id: int) -> None:
    """Make GENERATION_ID the one routing uses (every process notices)."""
    from ticketing.services import org

    try:
        org.activate_boundaries(generation_id, _now(None))
    except ValueError as e:
        db.session.rollback()
        raise click.ClickException(str(e)) from None
    db.session.commit()
    click.echo(f"generation {generation_id} is active")


@boundaries_cli.command("list")
def list_boundaries() -> None:
    """List generations, newest first."""
    from geo.models import BoundaryGeneration

    for gen in db.session.scalars(select(BoundaryGeneration).order_by(BoundaryGeneration.id.desc())):
        mark = "*" if gen.active else " "
        click.echo(f"{mark} {gen.id:4d}  {gen.label}  ({len(gen.boundaries)} polygons, {gen.source_crs})")


@calendar_cli.command("seed")
def seed_calendar() -> None:
    """Seed holidays and swapped working days from the chinesecalendar package."""
    from ticketing.worktime import seed_calendar as seed

    years = seed(db.session, _now(None))
    db.session.commit()
    click.echo(f"calendar seeded for {', '.join(map(str, years))}")


@calendar_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--year", type=int, default=None, help="the notice's year, if the text lacks its title")
@click.option("--dry-run", is_flag=True, help="parse and list the days, write nothing")
def import_calendar_notice(path: Path, year: int | None, dry_run: bool) -> None:
    """Import a year's State Council holiday notice (published text or JSON, detected)."""
    from ticketing.calendar_notice import NoticeError, decode_notice, english_name, import_notice, load_notice

    try:
        notice = load_notice(decode_notice(path.read_bytes()), year)
    except NoticeError as e:
        raise click.ClickException(f"{path}: {e}") from None
    for day, is_workday, name in notice.days():
        kind = "workday" if is_workday else "holiday"
        click.echo(f"{day.isoformat()} {day.strftime('%a')}  {kind:7s}  {name} ({english_name(name)})")
    click.echo(f"{notice.year}: {len(notice.holidays)} holidays, {len(notice.workdays)} swapped working days")
    if dry_run:
        click.echo("dry run: nothing written")
        return
    summary = import_notice(db.session, notice, _now(None))
    db.session.commit()
    kept = summary["kept_admin"]
    click.echo(f"imported {notice.year}: {summary['written']} days written, {summary['removed']} stale days removed"
               + (f", admin rows kept for {', '.join(kept)}" if kept else ""))


@calendar_cli.command("status")
@click.option("--at", default=None, help="pretend it is this ISO time")
def calendar_status(at: str | None) -> None:
    """List the years with official data and the years ahead that would fall back to Monday–Friday."""
    from ticketing.calendar_notice import missing_years
    from ticketing.models.calendar import CalendarYear

    for row in db.session.scalars(select(CalendarYear).order_by(CalendarYear.year)):
        click.echo(f"{row.year}  {row.source}  imported {row.imported_at:%Y-%m-%d %H:%M}")
    missing = missing_years(db.session, _now(at), int(current_app.config["CALENDAR_WARN_WEEKS"]),
                            current_app.config["TIMEZONE"])
    if missing:
        click.echo(f"falling back to Monday–Friday: {', '.join(map(str, missing))} (import the notice)")
    else:
        click.echo("no fallback year ahead")


@demo_cli.command("load")
@click.option("--city", type=click.Choice(["hangzhou", "qingdao", "la"]), default="hangzhou")
@click.option("--if-empty", is_flag=True, help="do nothing if the database already has an org tree")
@click.option("--at", default=None, help="pretend it is this ISO time (demo tickets are dated relative to it)")
def load_demo(city: str, if_empty: bool, at: str | None) -> None:
    """Load a demo deployment from the real data shipped in data/."""
    from ticketing import demo

    if if_empty and db.session.scalar(select(OrgUnit.id).limit(1)) is not None:
        click.echo("database already has data: demo not loaded")
        return
    summary = demo.load(city, now=_now(at), settings=current_app.extensions["ticket_settings"],
                        store=current_app.extensions["photo_store"])
    db.session.commit()
    click.echo(summary)


@demo_cli.command("logins")
@click.option("--url", default="http://127.0.0.1:5000/")
def demo_logins(url: str) -> None:
    """Print the address and the demo users' logins."""
    from ticketing import demo

    click.echo(demo.logins_text(url))


def register_cli(app: Flask) -> None:
    """Attach the command groups to `flask`."""
    from ticketing.bridge.cli import hotline_cli

    for group in (users_cli, boundaries_cli, calendar_cli, demo_cli, hotline_cli):
        app.cli.add_command(group)
