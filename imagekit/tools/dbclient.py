"""The real database clients (psql, mariadb/mysql), for one query against a
database through a forwarded port on 127.0.0.1."""
from __future__ import annotations

import os
import shutil

from imagekit.errors import ToolError
from imagekit.tools.run import PACKAGE_OF, run

PACKAGE_OF.setdefault("psql", "postgresql-client")
PACKAGE_OF.setdefault("mariadb", "mariadb-client")


def query(db: str, *, port: int, user: str, password: str, database: str, sql: str,
          timeout: float = 30) -> str:
    """Run `sql`, return what the client printed (unaligned, no headers)."""
    if db == "postgresql":
        env = {**os.environ, "PGPASSWORD": password, "PGCONNECT_TIMEOUT": "10"}
        proc = run(["psql", "-h", "127.0.0.1", "-p", str(port), "-U", user, "-d", database,
                    "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql], env=env,
                   timeout=timeout, what="psql")
        return proc.stdout.strip()
    if db in ("mysql", "mariadb"):
        client = shutil.which("mariadb") or shutil.which("mysql") or "mariadb"
        env = {**os.environ, "MYSQL_PWD": password}
        proc = run([client, "-h", "127.0.0.1", "-P", str(port), "-u", user, "-D", database,
                    "--protocol=TCP", "--connect-timeout=10", "-N", "-B", "-e", sql], env=env,
                   timeout=timeout, what=os.path.basename(client))
        return proc.stdout.strip()
    raise ToolError(f"no database client for {db}", "verify knows postgresql, mysql and mariadb")
