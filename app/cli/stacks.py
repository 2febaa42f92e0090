"""`mpanel stacks ...`: what operators use to see, preview, retry and undo a customer's stack."""
from __future__ import annotations

import json
import sys

from app import db
from app.db.hosting import runs
from app.settings import Settings
from stacks.diff import SYMBOLS, render_text


def _print_step(step: dict) -> None:
    if step.get("status") == "error":
        print(f"  ! {step.get('message', '')}", flush=True)
        return
    if step.get("op") == "same" or step.get("status") != "started":
        if step.get("status") == "done" and step.get("op") != "same":
            print(f"    {step['resource_name']}: {step['op']} done in {step.get('duration_ms', 0)} ms", flush=True)
        return
    print(f"  {SYMBOLS.get(step['op'], '?'):2} {step['op']:8} {step['resource_name']}", flush=True)


def render_preview(steps: list[dict]) -> str:
    """A readable diff (stacks/diff.py, the console's renderer too): each change with its
    properties (old -> new), unknowns as "(known after apply)", secrets masked, what
    deletions and replacements destroy, and the drift a refresh found."""
    return render_text(steps)


def _spec(settings: Settings, subscription_id: int):
    from app.services.hosting.specs import build_spec

    with db.transaction(settings.DATABASE_URL) as conn:
        return build_spec(conn, subscription_id, settings)


def cmd_list(settings: Settings) -> int:
    with db.transaction(settings.DATABASE_URL) as conn:
        rows = runs.stack_overview(conn)
    print(f"{'stack':10} {'domain':28} {'billing':16} {'stack status':13} {'last operation':24} drift")
    for r in rows:
        last = f"{r['operation'] or '-'} {r['run_status'] or ''}".strip()
        drift = {True: "yes", False: "no", None: "-"}[r["drift"]]
        print(f"sub-{r['id']:<6} {r['domain'] or '-':28} {r['status']:16} {r['provisioning_status']:13} {last:24} {drift}")
        if r["error"] and r["run_status"] == "failed":
            print(f"           last error: {r['error']}")
    return 0


def cmd_preview(settings: Settings, subscription_id: int) -> int:
    """Refresh first (reality as it is now, so a record deleted behind our back shows), then
    preview what a converge would change. Recorded as a run like the nightly drift check."""
    from app.services.hosting.drift import refresh_and_preview

    found = refresh_and_preview(settings, subscription_id)
    drift = [s for s in found.steps if s.get("op") == "refresh" and s.get("status") == "done" and s.get("changes")]
    if drift:
        print(f"sub-{subscription_id}: drift found by the refresh")
        print(render_text(drift))
    planned = render_text([s for s in found.steps if s not in drift])
    if planned == "no changes":
        print(f"sub-{subscription_id}: a converge would change nothing")
    else:
        print(f"sub-{subscription_id}: a converge would change\n{planned}")
    return 0


def cmd_converge(settings: Settings, subscription_id: int) -> int:
    from app.services.hosting.errors import PermanentConvergeError, TransientConvergeError
    from app.services.hosting.converge import Converger

    try:
        print(f"sub-{subscription_id}: {Converger(settings, on_step=_print_step).converge(subscription_id, force=True)}")
        return 0
    except (PermanentConvergeError, TransientConvergeError) as exc:
        print(f"sub-{subscription_id} failed: {exc}", file=sys.stderr)
        return 1


def cmd_refresh(settings: Settings, subscription_id: int) -> int:
    """Refresh (then preview, as the drift check does) and say what drifted, per resource and property."""
    from app.services.hosting.drift import refresh_and_preview

    found = refresh_and_preview(settings, subscription_id)
    drift = [s for s in found.steps if s.get("op") == "refresh" and s.get("status") == "done" and s.get("changes")]
    if not found.drift:
        print(f"sub-{subscription_id}: no drift")
        return 0
    print(f"sub-{subscription_id}: drift found")
    if drift:
        print(render_text(drift))
    planned = render_text([s for s in found.steps if s not in drift])
    print(f"a converge would change:\n{planned}")
    return 0


def cmd_destroy(settings: Settings, subscription_id: int, *, yes: bool = False, cancel_billing: bool = False,
                ask=input) -> int:
    """Terminate the subscription's desired state, then converge (which backs the account up,
    then destroys). The operator types the domain (or passes --yes); a subscription Stripe still
    bills is refused unless --cancel-billing cancels it in Stripe first (a destroyed site that is
    still charged for is the worst of both)."""
    from app.db.hosting import subscriptions

    with db.transaction(settings.DATABASE_URL) as conn:
        row = subscriptions.hosting_account(conn, subscription_id)
    if row is None:
        print(f"sub-{subscription_id}: no such subscription", file=sys.stderr)
        return 1
    billed = _billed_by_stripe(settings, row)
    if billed and not cancel_billing:
        print(f"sub-{subscription_id} ({row['domain']}) is still billed by Stripe ({billed}): nothing destroyed. "
              "Pass --cancel-billing to cancel it in Stripe and destroy.", file=sys.stderr)
        return 1
    if not yes:
        typed = ask(f"This deletes {row['domain']}'s cPanel account, zone, mail domain and mailboxes "
                    f"(a backup is taken first). Type the domain to confirm: ").strip().lower()
        if typed != (row["domain"] or "").lower():
            print("the domain typed does not match: nothing destroyed", file=sys.stderr)
            return 1
    if billed:
        from app.services.orders import billing

        billing.cancel_subscription(settings, row["stripe_subscription_id"], f"mpanel-destroy-{subscription_id}")
        print(f"sub-{subscription_id}: Stripe subscription {row['stripe_subscription_id']} canceled")
    with db.transaction(settings.DATABASE_URL) as conn:
        runs.mark_terminated(conn, subscription_id)
    return cmd_converge(settings, subscription_id)


def _billed_by_stripe(settings: Settings, row: dict) -> str | None:
    """Stripe's status for the subscription when Stripe may still charge it, else None (Stripe
    asked, not our copy: an event not yet processed must not let a billed site be destroyed)."""
    if not row["stripe_subscription_id"]:
        return None
    from app.services.orders import billing
    from app.services.orders.lifecycle_rules import STRIPE_ENDED

    status = billing.retrieve_subscription(settings, row["stripe_subscription_id"]).status
    return None if status in STRIPE_ENDED else status


def cmd_history(settings: Settings, subscription_id: int) -> int:
    """Every engine update of the stack, newest first, numbered by the engine's version."""
    from app.services.operators.console import stack_history

    for version, h in stack_history(settings, subscription_id):
        changes = {k: v for k, v in (h.resource_changes or {}).items() if v}
        print(f"#{version:<4} {h.kind:8} {h.result:10} {h.start_time:%Y-%m-%d %H:%M:%S} {changes}")
    return 0


def cmd_export(settings: Settings, subscription_id: int) -> int:
    """The stack's state as JSON (secrets stay ciphertext), for support and audits."""
    from app.services.hosting.engine import stack_operations

    print(json.dumps(stack_operations(settings).export(subscription_id), indent=2))
    return 0


def cmd_cancel(settings: Settings, subscription_id: int) -> int:
    """Release the lock a dead run left (the next operation also does this by itself)."""
    from app.services.hosting.engine import stack_operations

    stack_operations(settings).cancel(subscription_id)
    print(f"sub-{subscription_id}: lock released")
    return 0


def cmd_migrate(settings: Settings, stacks: list[str], *, every: bool = False, dry_run: bool = False) -> int:
    """Bring stacks recorded by an earlier release to this one (stacks/migration.py): stored
    providers rewritten by kind, the retired starter page moved to its Command, nothing upstream
    touched. Part of the upgrade (CHANGELOG.md); run with the workers stopped. 0 when every stack
    is current or migrated, 1 when one was refused (it is left as it was)."""
    from app.services.hosting.engine import stack_operations
    from stacks import migration
    from stacks import install

    ops = stack_operations(settings)
    names = ops.stack_names() if every else stacks
    if not names:
        print("mpanel stacks migrate: name stacks (sub-ID or ID) or pass --all", file=sys.stderr)
        return 2
    refused = 0
    for name in names:
        subscription_id = int(str(name).rpartition("/")[2].removeprefix("sub-"))
        try:
            spec = _spec(settings, subscription_id)
        except Exception as exc:  # no rows to build the program from: nothing to compare against
            outcome = migration.Outcome(f"sub-{subscription_id}", "refused",
                                        reason=f"no spec from the database: {exc}")
        else:
            outcome = migration.migrate(ops, spec, install.command_sdk_version(), dry_run=dry_run)
        refused += outcome.status == "refused"
        print("\n".join(outcome.lines()), flush=True)
    return 1 if refused else 0


def main(action: str, subscription_id: int | None, *, yes: bool = False, cancel_billing: bool = False) -> int:
    settings = Settings.from_env()
    if action == "list":
        return cmd_list(settings)
    if subscription_id is None:
        print(f"mpanel stacks {action} needs a subscription id", file=sys.stderr)
        return 2
    if action == "destroy":
        return cmd_destroy(settings, subscription_id, yes=yes, cancel_billing=cancel_billing)
    return {"preview": cmd_preview, "up": cmd_converge, "refresh": cmd_refresh, "destroy": cmd_destroy,
            "history": cmd_history, "export": cmd_export, "cancel": cmd_cancel}[action](settings, subscription_id)
