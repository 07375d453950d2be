"""ini-set / ini-unset on trove-guestagent.conf-style files."""
from __future__ import annotations

from imagekit.engine import ini
from imagekit.engine.ops.base import Prepared, executes
from imagekit.engine.ops.context import GuestContext
from imagekit.engine.plan import IniSet, IniUnset
from imagekit.errors import GuestError


def _text(ctx: GuestContext, path: str) -> str | None:
    data = ctx.read(path)
    if data is None:
        return None
    try:
        text = data.decode()
        ini.parse(text)
    except UnicodeDecodeError:
        raise GuestError(f"{path}: not a UTF-8 text file")
    except ini.IniSyntaxError as exc:
        raise GuestError(f"{path} in the image is not an INI file: {exc}",
                         "fix the file first, or replace it (--upload/--write)")
    return text


@executes(IniSet)
def ini_set(op: IniSet, ctx: GuestContext, prep: Prepared) -> None:
    text = _text(ctx, op.path)
    new = ini.set_value(text or "", op.section, op.key, op.value)
    change = ctx.put_file(op.path, new.encode())
    ctx.changes[-1] = change.__class__(change.path, change.action,
                                       f"[{op.section}] {op.key}" + ("" if text is not None
                                                                     else " (new file)"),
                                       change.sha256)


@executes(IniUnset)
def ini_unset(op: IniUnset, ctx: GuestContext, prep: Prepared) -> None:
    text = _text(ctx, op.path)
    if text is None:
        ctx.record(op.path, "skipped", "no such file")
        return
    new = ini.unset_value(text, op.section, op.key)
    if new == text:
        ctx.record(op.path, "unchanged", f"[{op.section}] {op.key} not set")
        return
    change = ctx.put_file(op.path, new.encode())
    ctx.changes[-1] = change.__class__(change.path, change.action,
                                       f"[{op.section}] {op.key} removed", change.sha256)
