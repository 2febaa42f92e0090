"""Runs inside a worktree of an earlier release (PYTHONPATH=<worktree>, this venv's python): that
release's own hosting program, spec and engine plumbing converge one subscription, exactly as its
worker did. Argument: the subscription's current spec as JSON (fields that release did not have are
dropped). Nothing of the current release is imported here."""
import json
import sys

from app.settings import Settings
from stacks import engine
from stacks.program import program_for
from stacks.spec import HostingSpec, MailboxSpec, RecordSpec

given = json.loads(sys.argv[1])
fields = HostingSpec.__dataclass_fields__
values = {k: v for k, v in given.items() if k in fields}
values["mailboxes"] = tuple(MailboxSpec(**{k: v for k, v in m.items() if k in MailboxSpec.__dataclass_fields__})
                            for m in given["mailboxes"])
values["records"] = tuple(RecordSpec(**{k: v for k, v in r.items() if k in RecordSpec.__dataclass_fields__})
                          for r in given["records"])
values["nameservers"] = tuple(given["nameservers"])
values.setdefault("whm_endpoint", "default")
spec = HostingSpec(**values)
stack = engine.inline_stack(Settings.from_env(), spec.stack_name, program_for(spec))
result = stack.up(color="never", on_output=lambda line: print(line, end="", flush=True))
print(json.dumps({"result": result.summary.result}))
