"""`imagekit shell`: an interactive inspection shell for guest images.

    commands.py    the command table (parsing, help, completion, man page)
    runner.py      running a line: lookup, read-only check, parse, call, errors
    repl.py        the readline loop and the -c / stdin script runner
    completion.py  tab completion of commands, options, guest and host paths
    session.py     the image open in one appliance launch, cwd, changes
    paths.py       guest path resolution, directory entries, walking
    reader.py      reading guest files with pread
    tarstream.py   a guest tree as one tar stream (grep -r, diff of trees)
    output.py      rich on a terminal, plain text when piped
    files.py       ls cd pwd cat less head tail stat tree df du file download
    search.py      find grep
    views.py       os packages services users keys trove
    diff.py        diff PATH --against IMAGE2
    edits.py       upload edit rm mkdir chmod save (write mode)
    writing.py     opening a write session on the customization engine
    control.py     help history exit
"""
