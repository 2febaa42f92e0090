"""Before a command starts: what it needs (settings set, the database reachable and migrated),
and the one line `mpanel` prints instead of a traceback when something is missing."""
from __future__ import annotations

from app.settings import Settings
from stacks.install import CannotRun


# What each command needs before it starts: these settings set, and the database reachable
# and migrated. Commands not named here check nothing first (doctor reports, run and
# services start the servers, setup installs them).
NEEDS: dict[str, tuple[tuple[str, ...], bool]] = {
    "db": (("DATABASE_URL",), False),
    "stacks": (("DATABASE_URL",), True),
    "staff": (("DATABASE_URL",), True),
    "servers": (("DATABASE_URL", "MPANEL_ENCRYPTION_KEY"), True),
    "keys": (("DATABASE_URL", "MPANEL_ENCRYPTION_KEY"), True),
    "billing": (("DATABASE_URL",), True),
    "worker": (("DATABASE_URL", "PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE"), True),
    "serve": (("DATABASE_URL",), True),
    "plans": (("DATABASE_URL",), True),
    "coupons": (("DATABASE_URL",), True),
    "fuzz": (("DATABASE_URL", "MARKETING_API_KEY"), True),
    "chaos": (("DATABASE_URL", "MARKETING_API_KEY", "STRIPE_WEBHOOK_SECRET"), True),
}


def database_at(dsn: str) -> str:
    """host:port/database, without the password."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(dsn)
    except Exception:
        return "DATABASE_URL"
    return f"{parts.get('host', 'localhost')}:{parts.get('port', 5432)}/{parts.get('dbname', '')}"


def preflight(command: str, settings: Settings) -> None:
    if settings.MPANEL_ENV == "production" and command in ("serve", "worker"):
        from app.cli.config_check import production_refusals

        from app.settings import environment

        refused = production_refusals(settings, environment())
        if refused:
            raise CannotRun(f"refusing to start in production: {refused[0].name} {refused[0].detail}"
                            + (f" (and {len(refused) - 1} more)" if len(refused) > 1 else "")
                            + "; see `mpanel config check`")
    names, migrated = NEEDS.get(command, ((), False))
    for name in names:
        if not getattr(settings, name):
            raise CannotRun(f"{name} is not set: run `mpanel services up` (the local servers provide it) "
                            f"or export {name}")
    if "DATABASE_URL" not in names:
        return
    import psycopg

    from app import db

    with psycopg.connect(settings.DATABASE_URL, connect_timeout=5, autocommit=True) as conn:
        if not migrated:
            return
        try:
            done = {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
        except psycopg.errors.UndefinedTable:
            done = set()
    wanted = db.steps()
    pending = [name for name in wanted if name not in done]
    if pending:
        raise CannotRun(f"the database {database_at(settings.DATABASE_URL)} is not migrated ({len(pending)} of "
                        f"{len(wanted)} migrations pending, first {pending[0]}): run `mpanel db upgrade`")


def _causes(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def explain(exc: BaseException) -> str | None:
    """One line for a failure a user can fix (with what to run), None for anything else."""
    import psycopg
    from psycopg_pool import PoolTimeout

    from stacks.engine import EngineMissing

    dsn = Settings.from_env().DATABASE_URL
    for cause in _causes(exc):
        first_line = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        if isinstance(cause, (CannotRun, EngineMissing)):
            return str(cause)
        if isinstance(cause, psycopg.errors.UndefinedTable):
            return f"the database {database_at(dsn)} is not migrated ({first_line}): run `mpanel db upgrade`"
        if isinstance(cause, (psycopg.OperationalError, PoolTimeout)):
            return (f"cannot use PostgreSQL at {database_at(dsn)} ({first_line}): start the local servers with "
                    f"`mpanel services up`, or point DATABASE_URL at a running server")
    return None
