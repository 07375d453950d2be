"""The pure parts of verify, without a boot: the agent log's first real
error, the hints, the console evidence, the database handshakes (against
real sockets on 127.0.0.1)."""
from __future__ import annotations

import socket
import struct
import threading

from imagekit.verify import diagnose, observe
from imagekit.verify.phases import PHASES

LOG = """\
2026-12-03 10:08:19.342 636 DEBUG oslo_service [-] logging_exception_prefix = %(asctime)s ERROR %(name)s
2026-12-03 10:09:00.840 636 ERROR trove.guestagent.datastore.postgres.service [None req-1 - - - - - -] Failed to start database service: docker.errors.APIError: 500 Server Error
2026-12-03 10:09:00.840 636 ERROR trove.guestagent.datastore.postgres.service Traceback (most recent call last):
2026-12-03 10:09:00.840 636 ERROR trove.guestagent.datastore.postgres.service   File "x.py", line 1, in f
2026-12-03 10:09:01.000 636 INFO trove.guestagent.datastore.manager [-] later
"""


def test_first_error_skips_config_dumps_that_mention_error():
    first = diagnose.first_error(LOG.splitlines())
    assert first is not None
    assert first.startswith("Failed to start database service: docker.errors.APIError")


def test_first_error_none_without_errors():
    assert diagnose.first_error(["2026-12-03 10:09:01.000 636 INFO x [-] fine"]) is None


def test_hints_name_the_fix():
    assert "--style container" in diagnose.hint_for(
        "docker.errors.DockerException: Error while fetching server API version")
    assert "--db-image distro" in diagnose.hint_for("404 Client Error: No such image: postgres:15")
    assert "transport_url" in diagnose.hint_for("AMQP server on 10.0.2.2:9 is unreachable")
    assert diagnose.hint_for("all is well") is None


def test_console_evidence():
    text = observe.ANSI.sub("", "\x1b[0;32m  OK  \x1b[0m] Started guest-agent.service\n"
                            "[ 131.4] cloud-init[461]: Cloud-init v. 22.4.2 running "
                            "'modules:config' at Thu\nhost login: \n")
    assert observe.AGENT_STARTED.search(text)
    assert observe.CLOUD_INIT_FILES.search(text)
    assert observe.LOGIN_PROMPT.search(text)
    assert observe.agent_starts("imagekit: starting the Trove guest agent (trove 26.0.0)\n" * 3) == 3
    assert observe.loading_db_images("imagekit-db-images: loading postgres:15 from x.tar\n")
    assert not observe.loading_db_images("imagekit-db-images: loading postgres:15 from x.tar\n"
                                         "imagekit-db-images: postgres:15 loaded from x.tar in 9 s\n")


def _serve(handler) -> int:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def run():
        conn, _ = srv.accept()
        with conn:
            handler(conn)
        srv.close()
    threading.Thread(target=run, daemon=True).start()
    return srv.getsockname()[1]


def test_postgres_handshake_is_an_answer_and_silence_is_not():
    def pg(conn):
        assert conn.recv(8) == struct.pack("!II", 8, 80877103)
        conn.sendall(b"N")
    assert observe.database_answers("postgresql", _serve(pg))
    assert not observe.database_answers("postgresql", _serve(lambda c: c.recv(8)), timeout=1)


def test_mysql_greeting_is_an_answer():
    def my(conn):
        conn.sendall(b"\x4a\x00\x00\x00\x0a" + b"10.11.19-MariaDB\x00")
    assert observe.database_answers("mariadb", _serve(my))
    assert not observe.database_answers("mariadb", _serve(lambda c: c.sendall(b"HTTP/1.1")),
                                        timeout=1)


def test_phases_are_in_boot_order_and_unique():
    ids = [p.id for p in PHASES]
    assert len(ids) == len(set(ids)) == 10
    assert ids[0] == "vm-started" and ids[-1] == "query-answered"
    assert all(p.stalled_hint for p in PHASES)
