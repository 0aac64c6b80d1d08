"""PostgreSQL round trip with psycopg2: connect with the URL, SELECT 1, write and read a row,
and check that a wrong password is refused.

Reads STACKCTL_SMOKE_CONTEXT (JSON: stack, instance, outputs, inputs); one line per step.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from stackctl_smoke import context, fail, run  # modules/_lib, on PYTHONPATH


def main() -> None:
    import psycopg2

    url = context()["outputs"]["url"]
    parts = urlsplit(url)
    where = f"{parts.hostname}:{parts.port}{parts.path}"
    try:
        conn = psycopg2.connect(url, connect_timeout=10)
    except psycopg2.Error as err:
        fail(f"connect {where}", str(err).strip())
    print(f"connected to {where} as {parts.username}", flush=True)
    with conn, conn.cursor() as cur:
        cur.execute("SELECT 1")
        if cur.fetchone() != (1,):
            fail("SELECT 1", "unexpected result")
        print("SELECT 1 -> 1", flush=True)
        token = uuid.uuid4().hex
        cur.execute("CREATE TEMP TABLE stackctl_smoke (token text)")
        cur.execute("INSERT INTO stackctl_smoke VALUES (%s)", (token,))
        cur.execute("SELECT token FROM stackctl_smoke")
        if cur.fetchone() != (token,):
            fail("write/read", "the row read back differs")
        cur.execute("SHOW server_version")
        print(f"wrote and read back a row (server {cur.fetchone()[0]})", flush=True)
    conn.close()

    bad = parts._replace(netloc=f"{parts.username}:wrong-{uuid.uuid4().hex[:8]}@{parts.hostname}:{parts.port}")
    try:
        psycopg2.connect(bad.geturl(), connect_timeout=10).close()
        fail("auth", "a wrong password was accepted")
    except psycopg2.OperationalError:
        print("wrong password refused", flush=True)


if __name__ == "__main__":
    run(main)
