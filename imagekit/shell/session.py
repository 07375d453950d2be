"""One shell session: the image (and any image to compare with) open in one
appliance launch for the whole session, the guest mounted, the working
directory, the unsaved changes.

Read-only by default: libguestfs puts a throw-away overlay in front of the
file, whose bytes and mtime never change. With --write the changes go to an
overlay of the customization engine (`imagekit.engine.Workspace`) and reach
a new image only through `save OUT`."""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imagekit.errors import UsageError
from imagekit.guest import facts
from imagekit.guest.image import CheckedImage, check_image
from imagekit.guest.session import Appliance, GuestOS
from imagekit.shell import paths
from imagekit.shell.errors import ReadOnlyError
from imagekit.shell.output import Output


@dataclass(frozen=True)
class Attached:
    """An image attached read-only to compare with (diff --against)."""
    image: CheckedImage
    guest: GuestOS


@dataclass
class Session:
    app: Appliance
    image: CheckedImage
    guest: GuestOS
    out: Output
    writable: bool = False
    workspace: Any = None                  # imagekit.engine.Workspace in write mode
    attached: tuple[Attached, ...] = ()
    cwd: str = "/"
    changes: list[str] = field(default_factory=list)   # unsaved, in order
    history: list[str] = field(default_factory=list)
    _owners: tuple[dict[int, str], dict[int, str]] | None = None

    # -- opening -----------------------------------------------------------------
    @classmethod
    def open(cls, image: Path | str, *, write: bool = False, against: Sequence[Path | str] = (),
             out: Output | None = None) -> Session:
        """Check the images, launch the appliance once, inspect, mount."""
        checked = check_image(image)
        others = [check_image(p) for p in against]
        out = out or Output()
        Appliance.own_process_group = True   # ^C at the prompt must not reach qemu
        if write:
            from imagekit.shell import writing
            return writing.open_session(cls, checked, others, out)
        app = Appliance()
        try:
            app.add(checked, readonly=True)
            for o in others:
                app.add(o, readonly=True)
            app.launch()
            guest = app.inspect(0)
            attached = tuple(Attached(o, app.inspect(i + 1)) for i, o in enumerate(others))
            app.mount(guest, readonly=True)
        except BaseException:
            app.close()
            raise
        return cls(app=app, image=checked, guest=guest, out=out, attached=attached)

    def close(self) -> None:
        """Close the appliance; in write mode the overlay (whatever was not
        saved) is deleted with it."""
        if self.workspace is not None:
            self.workspace.close()
        else:
            self.app.close()

    # -- helpers for the commands ------------------------------------------------
    @property
    def g(self) -> Any:
        return self.app.g

    def resolve(self, arg: str) -> str:
        return paths.resolve(self.cwd, arg)

    def require_write(self, command: str) -> None:
        if not self.writable:
            raise ReadOnlyError(command)

    @property
    def dirty(self) -> bool:
        return bool(self.changes)

    def forget_owners(self) -> None:
        self._owners = None

    def owners(self) -> tuple[dict[int, str], dict[int, str]]:
        """(uid -> user name, gid -> group name) of the guest, read once."""
        if self._owners is None:
            users: dict[int, str] = {}
            for name, p in facts.passwd(self.g).items():
                users.setdefault(p.uid, name)
            grps: dict[int, str] = {}
            for name, gid in facts.groups(self.g).items():
                grps.setdefault(gid, name)
            self._owners = (users, grps)
        return self._owners

    def find_attached(self, name: str | None) -> Attached:
        """The attached image named `name` (path as typed, or its file name);
        the only one when `name` is None."""
        if not self.attached:
            raise UsageError("no image to compare with is attached",
                             "start the shell with --against IMAGE2 (with -c, a diff command's "
                             "--against image is attached by itself)")
        if name is None:
            if len(self.attached) == 1:
                return self.attached[0]
            raise UsageError("several images are attached: say which one with --against IMAGE2")
        want = Path(name).expanduser()
        for a in self.attached:
            if want.exists() and want.resolve() == a.image.path:
                return a
        for a in self.attached:
            if a.image.path.name == name:
                return a
        names = ", ".join(str(a.image.path) for a in self.attached)
        raise UsageError(f"{name} is not attached to this session (attached: {names})",
                         "images are attached when the shell starts: imagekit shell IMAGE "
                         "--against IMAGE2")

    @contextmanager
    def mounted(self, other: Attached) -> Iterator[None]:
        """Mount `other` (read-only) in place of the image for a moment.
        Mounting is a daemon call; nothing is relaunched."""
        self.app.mount(other.guest, readonly=True)
        try:
            yield
        finally:
            self.app.mount(self.guest, readonly=not self.writable)
