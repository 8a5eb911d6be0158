"""hooks.prepare for `st run` (SCHEMATHESIS_HOOKS=proof.st_hooks, tests/ on PYTHONPATH)."""

from __future__ import annotations

import schemathesis
from schemathesis.generation.case import Case
from schemathesis.hooks import HookContext

from proof import hooks


@schemathesis.hook
def map_case(context: HookContext, case: Case) -> Case:
    hooks.prepare(case)
    return case
