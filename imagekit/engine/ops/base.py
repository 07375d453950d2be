"""How operations are executed: each operation class of plan.py has one
executor here (a `prepare` step on the host, which may run while the
appliance starts, and an `apply` step on the mounted guest)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from imagekit.engine.ops.context import GuestContext
from imagekit.engine.plan import Operation


@dataclass
class Prepared:
    """Host-side work done before the guest is needed: the inputs' hashes
    (for the manifest) and whatever the apply step needs."""
    inputs: dict[str, str] = field(default_factory=dict)
    payload: Any = None


@dataclass(frozen=True)
class Executor:
    apply: Callable[[Any, GuestContext, Prepared], None]
    prepare: Callable[[Any], Prepared] | None = None


EXECUTORS: dict[type, Executor] = {}


def executes(op_type: type, prepare: Callable[[Any], Prepared] | None = None):
    """Decorator: register `fn(op, ctx, prepared)` as the executor of op_type."""
    def deco(fn: Callable[[Any, GuestContext, Prepared], None]):
        EXECUTORS[op_type] = Executor(fn, prepare)
        return fn
    return deco


def prepare(op: Operation) -> Prepared:
    ex = executor(op)
    prep = ex.prepare(op) if ex.prepare else Prepared()
    prep.inputs = {**op.inputs(), **prep.inputs}
    return prep


def executor(op: Operation) -> Executor:
    try:
        return EXECUTORS[type(op)]
    except KeyError:
        raise NotImplementedError(f"no executor for {type(op).__name__}")
