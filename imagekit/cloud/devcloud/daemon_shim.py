"""Runs one of Trove's daemons (trove-conductor, trove-taskmanager) in the
services' venv under a name of its own, copied next to the rendered configs:
`python imagekit_devcloud_daemon.py NAME PROGRAM ARGS...`. NAME stays in the
process's command line, so `imagekit devcloud down` signals only what this
devcloud started; PROGRAM is the console script, found through its entry
point, and sees `PROGRAM ARGS...` as its argv."""
import sys
from importlib.metadata import entry_points

if len(sys.argv) < 3:
    sys.exit("usage: imagekit_devcloud_daemon.py NAME PROGRAM [ARGS...]")
_program = sys.argv[2]
(_ep,) = [e for e in entry_points(group="console_scripts") if e.name == _program]
sys.argv = [_program, *sys.argv[3:]]
sys.exit(_ep.load()())
