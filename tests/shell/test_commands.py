"""The shell's pure logic, without an appliance: the command table (it
drives parsing, help, completion and the man page), statement splitting,
path resolution, what a completion expects, head/tail slicing, secret
masking, key fingerprints."""
from __future__ import annotations

import subprocess

import pytest

from imagekit.shell import commands, completion, paths, reader, views
from imagekit.shell.errors import ShellUsageError
from imagekit.shell.runner import against_images, split_statements

ISSUE_COMMANDS = ("help ls cd pwd cat less head tail find grep stat tree df du file download "
                  "upload edit rm mkdir chmod os packages services users keys trove diff history "
                  "exit quit save").split()


def test_every_command_of_the_issue_is_in_the_table():
    assert set(ISSUE_COMMANDS) <= set(commands.names())


@pytest.mark.parametrize("cmd", commands.COMMANDS, ids=lambda c: c.name)
def test_every_command_has_a_handler_and_a_group(cmd):
    assert callable(cmd.run())
    assert cmd.group in dict(commands.GROUPS)
    assert cmd.summary and cmd.usage().startswith(cmd.name)
    assert cmd.writes == (cmd.group == "write")


def test_man_page_parser_documents_every_command_and_option():
    from argparse_manpage.manpage import Manpage
    page = str(Manpage(commands.manpage_parser(), _data={"project_name": "imagekit"}))
    for cmd in commands.COMMANDS:
        assert f"usage: {cmd.name}" in page, cmd.name
        for a in cmd.args:
            for f in a.flags:
                assert f.replace("-", "\\-") in page, (cmd.name, f)
    assert "quit" in page


def test_arguments_are_parsed_from_the_table():
    ns = commands.parse(commands.lookup("ls"), ["-la", "/etc", "tmp"])
    assert ns.long and ns.all and ns.paths == ["/etc", "tmp"]
    ns = commands.parse(commands.lookup("head"), ["-n", "3", "passwd"])
    assert ns.lines == 3 and ns.paths == ["passwd"]
    ns = commands.parse(commands.lookup("find"), ["/etc", "-name", "*.conf", "-type", "f"])
    assert (ns.path, ns.name, ns.type) == ("/etc", "*.conf", "f")
    ns = commands.parse(commands.lookup("download"), ["/etc/passwd", "."])
    assert (ns.guest, ns.host) == ("/etc/passwd", ".")
    ns = commands.parse(commands.lookup("grep"), ["-ri", "--", "-x", "/etc"])
    assert ns.pattern == "-x" and ns.recursive and ns.ignore_case


def test_bad_arguments_and_unknown_commands_are_usage_errors():
    with pytest.raises(ShellUsageError) as e:
        commands.parse(commands.lookup("head"), ["-n", "many", "passwd"])
    assert e.value.message.startswith("head: ") and e.value.hint == "help head"
    with pytest.raises(ShellUsageError) as e:
        commands.parse(commands.lookup("ls"), ["--bogus"])
    assert "--bogus" in e.value.message
    with pytest.raises(ShellUsageError) as e:
        commands.lookup("cta")
    assert "unknown command" in e.value.message
    with pytest.raises(ShellUsageError) as e:
        commands.lookup("gerp")
    assert "grep" in e.value.hint


def test_statements_split_on_semicolons_outside_quotes():
    assert split_statements("ls; cd /etc ;; pwd") == ["ls", "cd /etc", "pwd"]
    assert split_statements("grep ';' a; grep \"x;y\" b") == ["grep ';' a", 'grep "x;y" b']
    assert split_statements(r"grep a\;b c; ls") == [r"grep a\;b c", "ls"]
    assert split_statements("  ") == []


def test_diff_images_of_a_script_are_found_before_launch():
    script = "ls; diff /etc --against a.qcow2; -diff x --against=b.qcow2; cat --against c"
    assert against_images(script) == ["a.qcow2", "b.qcow2"]


def test_guest_paths_resolve_lexically():
    assert paths.resolve("/", "etc") == "/etc"
    assert paths.resolve("/etc", "../usr//bin/") == "/usr/bin"
    assert paths.resolve("/bin", "..") == "/"
    assert paths.resolve("/etc", "/") == "/"
    assert paths.resolve("/", "../..") == "/"


@pytest.mark.parametrize("line, kind", [
    ("cat ", commands.GUEST), ("cat a b ", commands.GUEST), ("download /etc/passwd ", commands.HOST),
    ("download ", commands.GUEST), ("upload ", commands.HOST), ("upload x ", commands.GUEST),
    ("grep ", commands.TEXT), ("grep -i root ", commands.GUEST), ("head -n ", commands.TEXT),
    ("head -n 3 ", commands.GUEST), ("help ", commands.COMMAND), ("diff /etc --against ", commands.IMAGE),
    ("chmod ", commands.TEXT), ("chmod 0600 ", commands.GUEST), ("save ", commands.HOST),
    ("pwd ", commands.TEXT),
])
def test_completion_knows_what_each_argument_is(line, kind):
    words = line.split()
    assert completion._kind_at(commands.lookup(words[0]), words[1:]) == kind


def test_completion_of_commands_and_options_needs_no_guest():
    assert completion.complete(None, "", "pw") == ["pwd "]
    assert set(completion.complete(None, "", "h")) == {"head", "help", "history"}
    assert completion.complete(None, "ls ; ", "he") == ["head", "help"]
    assert completion.complete(None, "ls ", "--a") == ["--all "]
    assert completion.complete(None, "nosuch ", "x") == []


def test_head_and_tail_slices():
    data = b"a\nb\nc\n"
    assert reader.first_lines(data, 2) == b"a\nb\n"
    assert reader.first_lines(data, 9) == data
    assert reader.first_lines(b"a\nb", 5) == b"a\nb"
    assert reader.last_lines(data, 2) == b"b\nc\n"
    assert reader.last_lines(b"a\nb\nc", 2) == b"b\nc"
    assert reader.last_lines(data, 9) == data
    assert reader.last_lines(data, 0) == b""


def test_secrets_are_masked_in_trove_config():
    text = ("[DEFAULT]\n"
            "transport_url = rabbit://stackrabbit:verysecret@10.0.0.1:5672/\n"
            "nova_proxy_admin_pass = hunter2\n"
            "rabbit_password=verysecret\n"
            "# admin_password = stays, a comment\n"
            "debug = True\n"
            "[database]\nconnection = mysql+pymysql://trove:dbpass@127.0.0.1/trove\n"
            "[oslo_messaging_rabbit]\nrabbit_userid = stackrabbit\n")
    masked = views.mask(text)
    for secret in ("verysecret", "hunter2", "dbpass"):
        assert secret not in masked
    assert "rabbit://stackrabbit:****@10.0.0.1:5672/" in masked
    assert "nova_proxy_admin_pass = ****" in masked
    assert "rabbit_userid = stackrabbit" in masked and "debug = True" in masked
    assert "# admin_password = stays, a comment" in masked
    assert masked.count("\n") == text.count("\n")


def test_key_fingerprints_match_ssh_keygen(tmp_path):
    key = tmp_path / "k"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ops@example", "-f",
                    str(key)], check=True)
    want = subprocess.run(["ssh-keygen", "-lf", f"{key}.pub"], capture_output=True, text=True,
                          check=True).stdout.split()[1]
    line = (tmp_path / "k.pub").read_text()
    assert views.fingerprint(line) == ("ssh-ed25519", want, "ops@example")
    assert views.fingerprint('command="/bin/true",no-pty ' + line)[1] == want
    assert views.fingerprint("not a key") is None
