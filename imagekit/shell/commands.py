"""The shell's command table: the one place a command, its arguments and its
help are written. Argument parsing, `help`, tab completion and the man page
(imagekit-shell.1) are all made from it."""
from __future__ import annotations

import argparse
import difflib
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from imagekit.shell.errors import ShellUsageError

# What an argument is, for completion: a guest path, a host path, an image
# file on the host, a shell command name, or anything else.
GUEST, HOST, IMAGE, COMMAND, TEXT = "guest", "host", "image", "command", "text"
GROUPS = (("files", "Looking at files"), ("views", "What is in the image"),
          ("write", "Changing the image (with --write)"), ("session", "The session"))


@dataclass(frozen=True)
class Arg:
    """A positional argument (`flags` empty) or an option."""
    name: str                        # metavar of a positional, dest of an option
    help: str
    kind: str = TEXT
    flags: tuple[str, ...] = ()
    nargs: str | None = None         # "?", "*", "+" (positionals)
    value: str | None = None         # an option taking a value: its metavar
    type: Callable[[str], Any] = str
    default: Any = None
    dest: str | None = None          # of a positional (default: name in lower case)

    @property
    def is_option(self) -> bool:
        return bool(self.flags)

    @property
    def key(self) -> str:
        return self.name if self.is_option else (self.dest or self.name.lower())


@dataclass(frozen=True)
class Command:
    name: str
    group: str
    summary: str
    handler: str                     # "module:function" inside imagekit.shell
    args: tuple[Arg, ...] = ()
    aliases: tuple[str, ...] = ()
    writes: bool = False             # only in a --write session
    details: str = ""

    def usage(self) -> str:
        parts = [self.name]
        for a in self.args:
            if a.is_option:
                parts.append(f"[{a.flags[0]}{' ' + a.value if a.value else ''}]")
            elif a.nargs == "?":
                parts.append(f"[{a.name}]")
            elif a.nargs == "*":
                parts.append(f"[{a.name}...]")
            elif a.nargs == "+":
                parts.append(f"{a.name}...")
            else:
                parts.append(a.name)
        return " ".join(parts)

    def run(self) -> Callable[..., None]:
        module, func = self.handler.split(":")
        return getattr(importlib.import_module(f"imagekit.shell.{module}"), func)


def flag(*flags: str, dest: str, help: str) -> Arg:
    return Arg(dest, help, flags=flags)


def option(*flags: str, dest: str, value: str, help: str, type: Callable[[str], Any] = str,
           default: Any = None, kind: str = TEXT) -> Arg:
    return Arg(dest, help, kind=kind, flags=flags, value=value, type=type, default=default)


def path(name: str = "PATH", help: str = "a guest path", nargs: str | None = None,
         kind: str = GUEST, dest: str | None = None) -> Arg:
    """A path argument: stored as `paths` (a list) or `path` unless `dest` says."""
    return Arg(name, help, kind=kind, nargs=nargs,
               dest=dest or ("paths" if nargs in ("*", "+") else "path"))


COMMANDS: tuple[Command, ...] = (
    # -- files --------------------------------------------------------------------
    Command("ls", "files", "list a directory", "files:ls", (
        flag("-l", "--long", dest="long", help="mode, links, owner, group, size, mtime, link target"),
        flag("-a", "--all", dest="all", help="include names starting with a dot"),
        flag("-d", "--directory", dest="directory", help="list a directory itself, not its entries"),
        path(nargs="*", help="files or directories (default: the working directory)"),
    )),
    Command("cd", "files", "change the working directory", "files:cd", (
        path("DIR", nargs="?", help="a guest directory (default: /)"),)),
    Command("pwd", "files", "print the working directory", "files:pwd"),
    Command("cat", "files", "print files (syntax-highlighted on a terminal)", "files:cat", (
        path(nargs="+", help="guest files"),)),
    Command("less", "files", "show a file through $PAGER (default less)", "files:less", (
        path(help="a guest file"),)),
    Command("head", "files", "print the first lines of files", "files:head", (
        option("-n", "--lines", dest="lines", value="N", type=int, default=10,
               help="how many lines (default 10)"),
        path(nargs="+", help="guest files"),)),
    Command("tail", "files", "print the last lines of files", "files:tail", (
        option("-n", "--lines", dest="lines", value="N", type=int, default=10,
               help="how many lines (default 10)"),
        path(nargs="+", help="guest files"),)),
    Command("find", "files", "list a tree, optionally filtered", "search:find", (
        path("DIR", nargs="?", help="where to start (default: the working directory)"),
        option("-name", dest="name", value="GLOB", help="base name matches GLOB"),
        option("-iname", dest="iname", value="GLOB", help="like -name, ignoring case"),
        option("-type", dest="type", value="f|d|l", help="only files, directories or symlinks"),
        option("-maxdepth", dest="maxdepth", value="N", type=int,
               help="descend at most N levels"),
    ), details="Without -type and -maxdepth the whole tree is listed by one call in the "
               "appliance; with them, one directory read per directory."),
    Command("grep", "files", "search files for a regular expression", "search:grep", (
        flag("-i", "--ignore-case", dest="ignore_case", help="ignore case"),
        flag("-n", "--line-number", dest="number", help="print line numbers"),
        flag("-l", "--files-with-matches", dest="list", help="print only the names of matching files"),
        flag("-v", "--invert-match", dest="invert", help="print the lines that do not match"),
        flag("-F", "--fixed-strings", dest="fixed", help="PATTERN is a fixed string"),
        flag("-r", "--recursive", dest="recursive", help="search directories, recursively"),
        Arg("PATTERN", "a Python regular expression (or a fixed string with -F)"),
        path(nargs="+", help="guest files (directories with -r)"),
    ), details="A tree is read as one tar stream from the appliance (one program run for "
               "the whole tree), not file by file."),
    Command("stat", "files", "show a path's metadata (not following symlinks)", "files:stat_", (
        path(nargs="+", help="guest paths"),)),
    Command("tree", "files", "show a directory tree", "files:tree", (
        option("-L", dest="level", value="N", type=int, help="descend at most N levels"),
        flag("-a", dest="all", help="include names starting with a dot"),
        path("DIR", nargs="?", help="the top (default: the working directory)"),
    )),
    Command("df", "files", "space and inodes used on the guest's filesystems", "files:df"),
    Command("du", "files", "space used by files or trees", "files:du", (
        flag("-c", "--children", dest="children",
             help="one line per entry of each directory, biggest first"),
        path(nargs="*", help="guest paths (default: the working directory)"),
    )),
    Command("file", "files", "what kind of file each path is (file(1))", "files:file", (
        path(nargs="+", help="guest paths"),)),
    Command("download", "files", "copy a guest file or directory to the host", "files:download", (
        path("GUEST", help="a guest file or directory", dest="guest"),
        path("HOST", kind=HOST, dest="host", help="a host file or directory (an existing one "
                                                  "for a guest directory)"),
    )),
    # -- views --------------------------------------------------------------------
    Command("os", "views", "the inspect report: OS, agent, databases, cloud-init, keys",
            "views:os_", (flag("--json", dest="json",
                               help="the report as JSON (schema imagekit.inspect/1)"),)),
    Command("packages", "views", "installed packages", "views:packages", (
        Arg("PATTERN", "a substring, or a glob with * ? [ ]", nargs="?"),)),
    Command("services", "views", "enabled systemd units, masked units, default target",
            "views:services"),
    Command("users", "views", "users with a login shell or ssh keys: password state, groups",
            "views:users", (flag("-a", "--all", dest="all", help="every user in /etc/passwd"),)),
    Command("keys", "views", "ssh host keys and authorized_keys, with fingerprints", "views:keys"),
    Command("trove", "views", "the Trove guest agent: path, release, unit, conf.d (secrets masked)",
            "views:trove"),
    Command("diff", "views", "compare a file or tree with another image", "diff:diff", (
        path(help="a guest file or directory"),
        option("--against", dest="against", value="IMAGE2", kind=IMAGE,
               help="the other image (attached read-only at start: imagekit shell IMAGE "
                    "--against IMAGE2; optional when only one is attached)"),
    ), details="Files: a unified diff (IMAGE2 is the old side). Directories: what was "
               "added, removed or changed (type, mode, owner, link target, size, content)."),
    # -- write --------------------------------------------------------------------
    Command("upload", "write", "copy a host file into the guest", "edits:upload", (
        path("HOST", kind=HOST, dest="host", help="a host file"),
        path("GUEST", dest="guest", help="a guest file, or an existing guest directory"),
    ), writes=True),
    Command("edit", "write", "edit a guest file with $EDITOR", "edits:edit", (
        path(help="a guest file (a new one is created)"),
    ), writes=True, details="The file is copied to the host, $EDITOR (default vi) opens it, "
                            "and it is uploaded when the editor exits with the file changed."),
    Command("rm", "write", "remove files (directories with -r)", "edits:rm", (
        flag("-r", "--recursive", dest="recursive", help="remove directories and their content"),
        flag("-f", "--force", dest="force", help="no error for missing paths"),
        path(nargs="+", help="guest paths"),
    ), writes=True),
    Command("mkdir", "write", "make directories", "edits:mkdir", (
        flag("-p", "--parents", dest="parents", help="make parents as needed, no error if it exists"),
        path("DIR", nargs="+", help="guest directories"),
    ), writes=True),
    Command("chmod", "write", "change the mode of files", "edits:chmod", (
        Arg("MODE", "an octal mode, e.g. 0640"),
        path(nargs="+", help="guest paths"),
    ), writes=True),
    Command("save", "write", "write the changed image to a new file", "edits:save", (
        path("OUT", kind=HOST, dest="out", help="the new image file (qcow2)"),
        flag("--force", dest="force", help="replace OUT if it exists"),
    ), writes=True, details="Atomic (a temporary file, then a rename) with the same manifest "
                            "as imagekit customize; the source image is never modified."),
    # -- session ------------------------------------------------------------------
    Command("help", "session", "list the commands, or show one command's help", "control:help", (
        Arg("COMMAND", "a command name", kind=COMMAND, nargs="?"),)),
    Command("history", "session", "the commands of this session", "control:history"),
    Command("exit", "session", "leave the shell (asks first when there are unsaved changes)",
            "control:exit", (flag("-f", "--force", dest="force",
                                  help="leave without asking, dropping unsaved changes"),),
            aliases=("quit",)),
)

_BY_NAME = {n: c for c in COMMANDS for n in (c.name, *c.aliases)}


def names() -> list[str]:
    return sorted(_BY_NAME)


def lookup(name: str) -> Command:
    cmd = _BY_NAME.get(name)
    if cmd is None:
        close = difflib.get_close_matches(name, names(), n=2, cutoff=0.6)
        raise ShellUsageError(f"{name}: unknown command",
                              f"did you mean {' or '.join(close)}?" if close else "'help' lists the commands")
    return cmd


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing and exiting."""

    def error(self, message: str) -> NoReturn:
        raise ShellUsageError(f"{self.prog}: {message}", f"help {self.prog}")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise ShellUsageError(f"{self.prog}: {message or 'bad arguments'}")


def _add(p: argparse.ArgumentParser, a: Arg) -> None:
    if a.is_option and a.value is None:
        p.add_argument(*a.flags, dest=a.name, action="store_true", help=a.help)
    elif a.is_option:
        p.add_argument(*a.flags, dest=a.name, metavar=a.value, type=a.type, default=a.default,
                       help=a.help)
    else:
        p.add_argument(a.key, metavar=a.name, nargs=a.nargs, help=a.help)


def parser(cmd: Command, cls: type[argparse.ArgumentParser] = _Parser) -> argparse.ArgumentParser:
    p = cls(prog=cmd.name, description=cmd.summary + (". " + cmd.details if cmd.details else ""),
            add_help=False, allow_abbrev=False)
    for a in cmd.args:
        _add(p, a)
    return p


def parse(cmd: Command, argv: list[str]) -> argparse.Namespace:
    return parser(cmd).parse_args(argv)


# -- the man page -----------------------------------------------------------------
INTRO = """\
imagekit shell IMAGE [--write] [--against IMAGE2]... [-c "CMD; CMD"]

An interactive shell over a guest image, opened in one libguestfs appliance
launch for the whole session. Read-only by default: the image's bytes and
mtime do not change. With --write, changes go to an overlay and are kept
only by 'save OUT'; leaving with unsaved changes asks first.

On a terminal: readline line editing, a history file
($XDG_STATE_HOME/imagekit/shell_history), tab completion of commands,
options and guest paths, tables and syntax-highlighted config files.
Piped or with -c: plain text. With -c (or commands on standard input) the
commands run in order without a prompt; the first failing command stops
them and the exit status is 1 (a command prefixed with '-' may fail). An
error prints one line; the interactive shell keeps running.

Paths are guest paths, relative to the working directory (cd, pwd);
HOST arguments are paths on this machine."""

KEYS = """\
Keys: Tab completes commands, options, guest paths (and host paths where a
command takes one); Up/Down and Ctrl-R search the history; Ctrl-C abandons
the line or interrupts a command; Ctrl-D leaves (like exit).

See also: imagekit(1), guestfish(1)."""


def manpage_parser() -> argparse.ArgumentParser:
    """Every shell command as a sub-command, for argparse-manpage."""
    p = argparse.ArgumentParser(prog="imagekit-shell", description=INTRO, add_help=False,
                                usage="COMMAND [ARGUMENTS]   (at the prompt of imagekit shell "
                                      "IMAGE, or in its -c \"CMD; CMD\")",
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=KEYS)
    sub = p.add_subparsers(title="commands", metavar="COMMAND")
    for group, _ in GROUPS:
        for cmd in (c for c in COMMANDS if c.group == group):
            extra = (f" Also: {', '.join(cmd.aliases)}." if cmd.aliases else "") + \
                    (" Only with --write." if cmd.writes else "")
            sp = sub.add_parser(cmd.name, prog=cmd.name, help=cmd.summary,
                                description=cmd.summary + ". " + (cmd.details + " " if cmd.details
                                                                  else "") + extra, add_help=False)
            for a in cmd.args:
                _add(sp, a)
    return p
