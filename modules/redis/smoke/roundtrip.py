"""Redis round trip with redis-py: PING with the URL's password, SET/GET/DEL a key, and check that
a wrong password and no password are refused.

Reads STACKCTL_SMOKE_CONTEXT (JSON: stack, instance, outputs, inputs); one line per step.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from stackctl_smoke import check, context, fail, run  # modules/_lib, on PYTHONPATH


def main() -> None:
    import redis

    ctx = context()
    url = ctx["outputs"]["url"]
    parts = urlsplit(url)
    where = f"{parts.hostname}:{parts.port}{parts.path}"
    client = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=10)
    try:
        client.ping()
    except redis.RedisError as err:
        fail(f"PING {where}", err)
    version = client.info("server").get("redis_version")
    print(f"PING {where} -> PONG (redis {version})", flush=True)

    key = f"stackctl-smoke:{ctx.get('instance', 'redis')}:{uuid.uuid4().hex}"
    token = uuid.uuid4().hex
    client.set(key, token, ex=60)
    got = client.get(key)
    check(got == token.encode(), "SET/GET", f"read back {got!r}, wrote {token!r}")
    check(0 < client.ttl(key) <= 60, "TTL", f"ttl of {key} is {client.ttl(key)}")
    print(f"SET/GET {key} (expires in 60s): read back the same value", flush=True)
    check(client.delete(key) == 1 and client.exists(key) == 0, "DEL", f"{key} still exists")
    print(f"DEL {key}", flush=True)
    client.close()

    for label, netloc in (("wrong password", f":wrong-{uuid.uuid4().hex[:8]}@{parts.hostname}:{parts.port}"),
                          ("no password", f"{parts.hostname}:{parts.port}")):
        other = redis.Redis.from_url(parts._replace(netloc=netloc).geturl(), socket_timeout=10)
        try:
            other.set(key, "intruder")
            fail("auth", f"a client with {label} could write")
        except redis.AuthenticationError:
            print(f"{label} refused", flush=True)
        except redis.ResponseError as err:  # NOAUTH, as some client/server versions phrase it
            check("NOAUTH" in str(err) or "AUTH" in str(err), "auth", f"{label}: unexpected {err}")
            print(f"{label} refused", flush=True)
        finally:
            other.close()
    print(f"round trip passed: PING, SET/GET/DEL, wrong and missing password refused (redis {version})", flush=True)


if __name__ == "__main__":
    run(main)
