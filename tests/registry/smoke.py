#!/usr/bin/python3
"""registry.smoke: the schema registry fixture answers the Confluent API as the schema
registry client will use it, and `schema-registry requests` counts exactly the calls made.

    smoke.py TOOL DIR        (TOOL: tests/registry/schema-registry, DIR: the fixture's folder)
"""
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

TOOL, DIR = sys.argv[1], sys.argv[2]
URL = subprocess.check_output([TOOL, "url", DIR], text=True).strip()
SUBJECT = "smoke-%d-value" % os.getpid()
calls = 0


def call(method, path, body=None):
    """(HTTP status, decoded JSON body)."""
    global calls
    calls += 1
    req = urllib.request.Request(URL + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/vnd.schemaregistry.v1+json",
                                          "User-Agent": "brook-registry-smoke"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def record(*fields):
    return json.dumps({"type": "record", "name": "Trade", "namespace": "brook.smoke",
                       "fields": list(fields)})


def requests():
    return int(subprocess.check_output([TOOL, "requests", DIR], text=True))


def check(cond, what):
    if not cond:
        sys.exit("registry.smoke: FAILED: " + what)
    print("ok:", what)


before = requests()
v1 = record({"name": "sym", "type": "string"})
st, r = call("POST", "/subjects/%s/versions" % SUBJECT, {"schema": v1})
check(st == 200 and isinstance(r.get("id"), int), "register v1 -> id (%d %s)" % (st, r))
id1 = r["id"]

st, r = call("GET", "/schemas/ids/%d" % id1)
check(st == 200 and json.loads(r["schema"]) == json.loads(v1), "get schema by id %d" % id1)

v2 = record({"name": "sym", "type": "string"}, {"name": "qty", "type": "long", "default": 0})
st, r = call("POST", "/subjects/%s/versions" % SUBJECT, {"schema": v2})
check(st == 200 and r.get("id") not in (None, id1),
      "register v2 (field with default) -> new id (%d %s)" % (st, r))

bad = record({"name": "price", "type": "double"})  # drops sym, adds a field with no default
st, r = call("POST", "/subjects/%s/versions" % SUBJECT, {"schema": bad})
check(st == 409, "register an incompatible schema -> 409 (%d %s)" % (st, r))

st, r = call("POST", "/compatibility/subjects/%s/versions/latest" % SUBJECT, {"schema": bad})
check(st == 200 and r.get("is_compatible") is False,
      "compatibility check says false (%d %s)" % (st, r))

st, r = call("GET", "/config")
check(st == 200 and r.get("compatibilityLevel") == "BACKWARD",
      "global compatibility is BACKWARD (%d %s)" % (st, r))

after = requests()
check(after - before == calls,
      "requests grew by the %d calls made (%d -> %d)" % (calls, before, after))
