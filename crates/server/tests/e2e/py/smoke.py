"""redis-py against a server on 127.0.0.1:<port>: basic ops, a pipeline, pub/sub and a
transaction. Prints "ALL OK" on success; an assertion names what differed."""

import sys
import time

import redis

port = int(sys.argv[1])
r = redis.Redis(host="127.0.0.1", port=port, socket_timeout=10, decode_responses=True)

assert r.ping() is True
assert r.set("py:k", "v") is True
assert r.get("py:k") == "v"
assert r.get("py:missing") is None
assert r.incr("py:n") == 1
assert r.incrby("py:n", 41) == 42
assert r.mset({"py:a": "1", "py:b": "2"}) is True
assert r.mget("py:a", "py:b", "py:none") == ["1", "2", None]
assert r.set("py:k", "w", nx=True) is None
assert r.set("py:ttl", "x", ex=100) is True
assert r.append("py:k", "x") == 2
try:
    r.incr("py:k")
    raise AssertionError("INCR of a non-integer succeeded")
except redis.ResponseError as e:
    assert str(e) == "value is not an integer or out of range", str(e)

assert r.rpush("py:l", "a", "b", "c") == 3
assert r.lrange("py:l", 0, -1) == ["a", "b", "c"]
assert r.blpop(["py:l"], timeout=1) == ("py:l", "a")
assert r.blpop(["py:empty"], timeout=0.1) is None
assert r.hset("py:h", mapping={"f1": "v1", "f2": "v2"}) == 2
assert r.hgetall("py:h") == {"f1": "v1", "f2": "v2"}
assert r.sadd("py:s", "x", "y") == 2
assert r.smembers("py:s") == {"x", "y"}
assert r.zadd("py:z", {"one": 1, "two": 2.5}) == 2
assert r.zrange("py:z", 0, -1, withscores=True) == [("one", 1.0), ("two", 2.5)]
assert r.zscore("py:z", "two") == 2.5
assert r.type("py:z") == "zset"
assert r.expire("py:z", 100) is True
assert 0 < r.ttl("py:z") <= 100

pipe = r.pipeline(transaction=False)
for i in range(100):
    pipe.set(f"py:p:{i}", i)
    pipe.incr("py:pcount")
res = pipe.execute()
assert res[-1] == 100, res[-2:]
assert r.get("py:p:99") == "99"

with r.pipeline(transaction=True) as tx:
    tx.set("py:tx", "1").incr("py:tx").get("py:tx")
    assert tx.execute() == [True, 2, "2"]

# WATCH, changed by another client: the transaction is retried by the caller.
r.set("py:watched", "0")
with r.pipeline() as tx:
    tx.watch("py:watched")
    redis.Redis(host="127.0.0.1", port=port).set("py:watched", "other")
    tx.multi()
    tx.set("py:watched", "mine")
    try:
        tx.execute()
        raise AssertionError("EXEC ran despite a changed WATCHed key")
    except redis.WatchError:
        pass
assert r.get("py:watched") == "other"

p = r.pubsub()
p.subscribe("py:chan")
p.psubscribe("py:pat.*")
deadline = time.time() + 10
confirms = []
while len(confirms) < 2 and time.time() < deadline:
    m = p.get_message(timeout=1)
    if m:
        confirms.append((m["type"], m["channel"]))
assert confirms == [("subscribe", "py:chan"), ("psubscribe", "py:pat.*")], confirms
assert r.publish("py:chan", "hello") == 1
assert r.publish("py:pat.x", "world") == 1
got = []
while len(got) < 2 and time.time() < deadline:
    m = p.get_message(timeout=1)
    if m:
        got.append((m["type"], m["channel"], m["data"]))
assert got == [("message", "py:chan", "hello"), ("pmessage", "py:pat.x", "world")], got
p.close()

# The same through RESP3 (redis-py >= 5 speaks it with protocol=3).
if int(redis.__version__.split(".")[0]) >= 5:
    r3 = redis.Redis(host="127.0.0.1", port=port, protocol=3, socket_timeout=10, decode_responses=True)
    assert r3.hgetall("py:h") == {"f1": "v1", "f2": "v2"}
    assert r3.zscore("py:z", "two") == 2.5
    assert r3.smembers("py:s") == {"x", "y"}
    assert r3.get("py:missing") is None

print("ALL OK")
