#!/usr/bin/python3
"""registry.brookc_check_compat: `brookc --check-compat URL DECL...` asks the registry whether
each Confluent-framed Avro schema of the templates is compatible with its subject, prints a
line per schema and says how it went in its exit status (0 compatible, 1 usage, declaration or
schema error, 2 some schema incompatible, 3 registry unreachable or answering an error).

    check_compat.py BROOKC TOOL DIR   (TOOL: tests/registry/schema-registry, DIR: its folder)

Version 1 of each subject is registered here, straight over the REST API; brookc then checks
declarations whose schemas are the same, evolved compatibly (a field added with a default:
compatible only if brookc sends the schema with its defaults, not the canonical form) or
incompatibly. The subjects and record names are unique to the run ("compat.<pid>-<time>"), as
other tests share the registry. Each subject checked against an existing version gets its own
level, BACKWARD, explicitly: Apicurio answers NONE for a subject without one (README.md), while
it enforces its global BACKWARD.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

BROOKC, TOOL, DIR = sys.argv[1], sys.argv[2], sys.argv[3]
URL = subprocess.check_output([TOOL, "url", DIR], text=True).strip()
RUN = "compat.%d-%d" % (os.getpid(), int(time.time() * 1000) % 10**9)
NS = "compat.r%d_%d" % (os.getpid(), int(time.time() * 1000) % 10**9)  # record namespace
WORK = tempfile.mkdtemp(prefix="brookc-check-compat-")
failures = 0


def call(method, path, body=None):
    """(HTTP status, decoded JSON body)."""
    req = urllib.request.Request(URL + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/vnd.schemaregistry.v1+json",
                                          "User-Agent": "brook-check-compat-test"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def check(cond, what, detail=""):
    global failures
    print(("ok: " if cond else "FAILED: ") + what)
    if not cond:
        failures += 1
        if detail:
            print("  " + detail)


def record(name, *fields):
    return {"type": "record", "name": name, "namespace": NS, "fields": list(fields)}


def register(subject, schema):
    """Registers version 1 of subject, with the subject's own level BACKWARD."""
    st, r = call("POST", "/subjects/%s/versions" % subject, {"schema": json.dumps(schema)})
    if st != 200 or not isinstance(r.get("id"), int):
        sys.exit("registry.brookc_check_compat: cannot register %s: %d %s" % (subject, st, r))
    st, r = call("PUT", "/config/%s" % subject, {"compatibility": "BACKWARD"})
    if st != 200:
        sys.exit("registry.brookc_check_compat: cannot set %s's level: %d %s" % (subject, st, r))


def write(rel, text):
    path = os.path.join(WORK, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text if isinstance(text, str) else json.dumps(text, indent=2))
    return path


def declaration(rel, schemas, templates, registry='url = "http://registry.invalid:8081";'):
    """A declaration file rel (with its schemas next to it, in schemas/); templates: (name,
    topic, key, value, extra settings) each. registry None: no schema_registry group."""
    files = []
    for file, schema in schemas.items():
        write(os.path.join(os.path.dirname(rel), "schemas", file), schema)
        files.append('"schemas/%s"' % file)
    text = 'service = { name = "%s"; };\n' % os.path.basename(rel).split(".")[0]
    text += "schemas = [ %s ];\n" % ", ".join(files)
    if registry is not None:
        text += "schema_registry = { %s };\n" % registry
    text += "templates = (\n%s\n);\n" % ",\n".join(
        '  { name = "%s"; topic = "%s"; key = "%s"; value = "%s"; %s }' % t for t in templates)
    return write(rel, text)


def brookc(*args):
    """(exit status, stdout lines, stderr)."""
    p = subprocess.run([BROOKC, *args], capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout.splitlines(), p.stderr


def run_case(what, args, status, lines=None, stderr_has=()):
    rc, out, err = brookc(*args)
    detail = "brookc %s: exit %d, stdout %s, stderr %r" % (" ".join(args), rc, out, err)
    check(rc == status, "%s: exit %d" % (what, status), detail)
    if lines is not None:
        check(out == lines, "%s: prints %s" % (what, lines), detail)
    for s in stderr_has:
        check(s in err, "%s: stderr says %r" % (what, s), detail)
    for line in out:
        print("  | " + line)
    return out, err


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


ID = {"name": "id", "type": "string"}
AMOUNT = {"name": "amount", "type": "long"}
NOTE_DEFAULT = {"name": "note", "type": "string", "default": ""}
NOTE = {"name": "note", "type": "string"}
PAY = NS + ".Payment"
KEY = NS + ".PaymentKey"

try:
    # ---- topic strategy (the default): <topic>-key, <topic>-value ---------------------------
    topic = RUN + ".payments"
    v1 = record("Payment", ID, AMOUNT)
    register(topic + "-value", v1)
    register(topic + "-key", record("PaymentKey", ID))
    templates = [("payments", topic, KEY, PAY, "")]

    def payments(rel, value_schema):
        return declaration(rel, {"payment.avsc": value_schema,
                                 "key.avsc": record("PaymentKey", ID)}, templates)

    run_case("(a) the registered schema", ["--check-compat", URL, payments("a/svc.brook", v1)], 0,
             ["%s-key %s: compatible (BACKWARD)" % (topic, KEY),
              "%s-value %s: compatible (BACKWARD)" % (topic, PAY)])
    run_case("(b) a field added with a default",
             ["--check-compat", URL, payments("b/svc.brook", record("Payment", ID, AMOUNT,
                                                                    NOTE_DEFAULT))], 0,
             ["%s-key %s: compatible (BACKWARD)" % (topic, KEY),
              "%s-value %s: compatible (BACKWARD)" % (topic, PAY)])

    out, _ = run_case("(c) a field added without a default",
                      ["--check-compat", URL,
                       payments("c1/svc.brook", record("Payment", ID, AMOUNT, NOTE))], 2)
    check(len(out) == 2 and out[0] == "%s-key %s: compatible (BACKWARD)" % (topic, KEY) and
          out[1].startswith("%s-value %s: INCOMPATIBLE (BACKWARD)" % (topic, PAY)),
          "(c) a field added without a default: the value is INCOMPATIBLE, the key compatible")
    out, _ = run_case("(c) a field's type changed (long -> string)",
                      ["--check-compat", URL,
                       payments("c2/svc.brook", record("Payment", ID,
                                                       {"name": "amount", "type": "string"}))], 2)
    check(len(out) == 2 and out[1].startswith("%s-value %s: INCOMPATIBLE (BACKWARD)" %
                                              (topic, PAY)),
          "(c) a field's type changed: the value is INCOMPATIBLE")

    # ---- (d) nothing registered yet; the registry's own level ------------------------------
    fresh = RUN + ".fresh"
    run_case("(d) a subject with nothing registered",
             ["--check-compat", URL,
              declaration("d/svc.brook", {"payment.avsc": v1},
                          [("fresh", fresh, "string", PAY, "")])], 0,
             ["%s-value %s: new subject (BACKWARD)" % (fresh, PAY)])

    # ---- record and topic_record strategies ------------------------------------------------
    register(NS + ".Order", record("Order", ID))
    register(RUN + ".orders-" + NS + ".Order", record("Order", ID))
    register(RUN + ".audit-" + NS + ".Order", record("Order", ID, AMOUNT))
    order = NS + ".Order"
    order_v2 = record("Order", ID, NOTE_DEFAULT)  # compatible with ("id") only
    for strategy, subject in (("record", order),
                              ("topic_record", RUN + ".orders-" + order)):
        registry = 'url = "http://registry.invalid:8081"; subject_strategy = "%s";' % strategy
        run_case("subject_strategy %s names the subject %s" % (strategy, subject),
                 ["--check-compat", URL,
                  declaration("s-%s/svc.brook" % strategy, {"order.avsc": order_v2},
                              [("orders", RUN + ".orders", "string", order, "")], registry)], 0,
                 ["%s %s: compatible (BACKWARD)" % (subject, order)])
    # topic_record: one subject per topic, one line each (".audit" has its own version 1);
    # "note" added without a default is incompatible with both.
    registry = 'url = "http://registry.invalid:8081"; subject_strategy = "topic_record";'
    out, _ = run_case("topic_record: each topic its own subject",
                      ["--check-compat", URL,
                       declaration("s-topics/svc.brook", {"order.avsc": record("Order", ID, NOTE)},
                                   [("orders", RUN + ".orders", "string", order, ""),
                                    ("audit", RUN + ".audit", "string", order, "")], registry)],
                      2)
    check(len(out) == 2 and
          out[0].startswith("%s.orders-%s %s: INCOMPATIBLE (BACKWARD)" % (RUN, order, order)) and
          out[1].startswith("%s.audit-%s %s: INCOMPATIBLE (BACKWARD)" % (RUN, order, order)),
          "topic_record: a line per subject, both INCOMPATIBLE")

    # ---- what is not checked; no schema_registry group -------------------------------------
    # single-object framing: nothing to ask; Confluent framing with a declared schema_id and
    # no registry group: the default strategy, "topic".
    run_case("framings and the default strategy without a schema_registry group",
             ["--check-compat", URL,
              declaration("n/svc.brook", {"payment.avsc": v1, "key.avsc": record("PaymentKey", ID)},
                          [("single", RUN + ".single", KEY, PAY,
                            'framing = "single_object";'),
                           ("confluent", topic, KEY, PAY,
                            'framing = "confluent"; schema_id = 7;'),
                           ("strings", RUN + ".strings", "string", "string", "")],
                          registry=None)], 0,
             ["%s-key %s: compatible (BACKWARD)" % (topic, KEY),
              "%s-value %s: compatible (BACKWARD)" % (topic, PAY)])
    run_case("nothing to check", ["--check-compat", URL,
                                  declaration("none/svc.brook", {"payment.avsc": v1},
                                              [("strings", RUN + ".strings", "string", "string",
                                                "")])], 0, [], ["nothing to check"])

    # ---- several declarations; --schemas --------------------------------------------------
    # one line per subject and schema: svc1 and svc2 write the same key schema (one line) and
    # two versions of the value (two lines), svc2's incompatible
    d1 = payments("m1/svc1.brook", v1)
    d2 = payments("m2/svc2.brook", record("Payment", ID, AMOUNT, NOTE))
    out, _ = run_case("two declarations", ["--check-compat", URL, d1, d2], 2)
    check(len(out) == 3 and out[:2] == ["%s-key %s: compatible (BACKWARD)" % (topic, KEY),
                                        "%s-value %s: compatible (BACKWARD)" % (topic, PAY)] and
          out[2].startswith("%s-value %s: INCOMPATIBLE (BACKWARD)" % (topic, PAY)),
          "two declarations: a line per subject and schema")
    # the types of a declaration that lists no schemas, from --schemas files
    shared = write("s/shared/payment.avsc", record("Payment", ID, AMOUNT, NOTE_DEFAULT))
    bare = write("s/svc.brook",
                 'service = { name = "bare"; };\n'
                 'schema_registry = { url = "http://registry.invalid:8081"; };\n'
                 'templates = ( { name = "p"; topic = "%s"; value = "%s"; } );\n' % (topic, PAY))
    run_case("--schemas", ["--check-compat", URL, bare, "--schemas", shared], 0,
             ["%s-value %s: compatible (BACKWARD)" % (topic, PAY)])

    # ---- (e) no registry -------------------------------------------------------------------
    down = "http://127.0.0.1:%d/apis/ccompat/v7" % closed_port()
    run_case("(e) an unreachable registry", ["--check-compat", down, payments("e/svc.brook", v1)],
             3, [], ["schema registry " + down, "Couldn't connect"])
    out, err = run_case("(e) a registry answering an error (not a registry)",
                        ["--check-compat", URL + "/nothing-here", payments("e2/svc.brook", v1)],
                        3, [], ["HTTP 404"])

    # ---- (f) errors of the command line, the declarations and the schemas: 1 ---------------
    bad = write("f/syntax.brook", 'service = { name = "bad" };\nschemas = [ ;\n')
    run_case("(f) a declaration that does not parse", ["--check-compat", URL, bad], 1, [],
             [bad + ":"])
    undefined = declaration("f/undefined.brook", {"payment.avsc": v1},
                            [("payments", topic, "string", NS + ".Missing", "")])
    run_case("(f) a template naming a type no schema defines",
             ["--check-compat", URL, undefined], 1, [],
             [undefined + ":5: templates[0] \"payments\": type \"%s.Missing\" is not defined"
              % NS])
    strategy = declaration("f/strategy.brook", {"payment.avsc": v1},
                           [("payments", topic, "string", PAY, "")],
                           'url = "http://x:1"; subject_strategy = "nope";')
    run_case("(f) an unknown subject strategy", ["--check-compat", URL, strategy], 1, [],
             [strategy + ":3: "])
    write("f/schemas/broken.avsc", '{"type": "record",\n "name": }\n')
    broken = write("f/broken.brook",
                   'service = { name = "broken"; };\nschemas = [ "schemas/broken.avsc" ];\n'
                   'templates = ( { name = "p"; topic = "t"; value = "x.Y"; } );\n')
    run_case("(f) a schema that does not parse", ["--check-compat", URL, broken], 1, [],
             [os.path.join(WORK, "f/schemas/broken.avsc") + ":2: invalid schema JSON"])
    run_case("usage: no URL", ["--check-compat"], 1, [], ["needs the schema registry's URL"])
    run_case("usage: no declaration", ["--check-compat", URL], 1, [], ["needs declarations"])
    run_case("usage: not a URL", ["--check-compat", "registry:8081", d1], 1, [],
             ["is not an http:// or https:// URL"])
    run_case("usage: an option of another form", ["--check-compat", URL, d1, "--out", WORK], 1,
             [], ["--check-compat takes declarations and --schemas only"])
    run_case("usage: an unknown option", ["--check-compat", URL, d1, "--frobnicate"], 1, [],
             ["unexpected argument"])

    rc, out, _ = brookc("--help")
    help_text = "\n".join(out)
    check(rc == 0 and "--check-compat URL" in help_text and "3 the registry" in help_text,
          "--help documents --check-compat and its exit statuses")
finally:
    shutil.rmtree(WORK, ignore_errors=True)

if failures:
    sys.exit("registry.brookc_check_compat: %d check(s) FAILED" % failures)
print("registry.brookc_check_compat: all checks passed")
