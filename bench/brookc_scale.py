#!/usr/bin/env python3
"""brookc on many record types: writes COUNT record types (default 1,000) into COUNT / 2 .avsc
files, each a record of twelve fields (strings, numbers, an enum, an optional string, an
array of the file's nested record, a map, a reference to the previous file's nested
record) with a nested record of its own, then times `brookc --schemas ... --name scale --out DIR` (best of
ROUNDS runs, wall clock and the child's CPU time). Prints `bench:` lines.

    brookc_scale.py BROOKC [COUNT] [ROUNDS]

Only the standard library is used.
"""
import json
import os
import resource
import subprocess
import sys
import tempfile
import time


def record(i):
    nested = {
        "type": "record",
        "name": "Line%d" % i,
        "fields": [
            {"name": "sku", "type": "string"},
            {"name": "qty", "type": "int"},
            {"name": "price", "type": {"type": "bytes", "logicalType": "decimal",
                                       "precision": 12, "scale": 2}},
        ],
    }
    fields = [
        {"name": "id", "type": "string"},
        {"name": "customer", "type": "string", "doc": "who ordered"},
        {"name": "created", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "total", "type": "double"},
        {"name": "quantity", "type": "int"},
        {"name": "express", "type": "boolean"},
        {"name": "status", "type": {"type": "enum", "name": "Status%d" % i,
                                    "symbols": ["NEW", "PAID", "SHIPPED", "CANCELLED"]}},
        {"name": "note", "type": ["null", "string"], "default": None},
        {"name": "lines", "type": {"type": "array", "items": nested}},
        {"name": "tags", "type": {"type": "map", "values": "string"}},
        {"name": "checksum", "type": {"type": "fixed", "name": "Sum%d" % i, "size": 16}},
    ]
    if i:
        fields.append({"name": "previous", "type": ["null", "scale.Line%d" % (i - 1)],
                       "default": None})
    else:
        fields.append({"name": "previous", "type": ["null", "string"], "default": None})
    return {"type": "record", "name": "Order%d" % i, "namespace": "scale", "fields": fields}


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    brookc = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    with tempfile.TemporaryDirectory(prefix="brookc-scale.") as work:
        files = []
        for i in range(count // 2):
            path = os.path.join(work, "order%04d.avsc" % i)
            with open(path, "w") as f:
                json.dump(record(i), f, indent=2)
            files.append(path)
        out = os.path.join(work, "out")
        best_wall = best_cpu = None
        for _ in range(rounds):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            run = subprocess.run([brookc, "--schemas", *files, "--name", "scale", "--out", out],
                                 capture_output=True, text=True)
            wall = time.perf_counter() - t0
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if run.returncode:
                sys.exit("brookc failed (%d): %s" % (run.returncode, run.stderr[-2000:]))
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            best_wall = wall if best_wall is None else min(best_wall, wall)
            best_cpu = cpu if best_cpu is None else min(best_cpu, cpu)
        header = os.path.join(out, "scale.brook.h")
        source = os.path.join(out, "scale.brook.c")
        with open(header) as f:
            structs = f.read().count("\nstruct scale_Order")
        if structs != count // 2:
            sys.exit("brookc wrote %d of the %d top-level structs" % (structs, count // 2))
        print("bench: brookc_record_types %d types in %d files" % (count, len(files)))
        print("bench: brookc_generated %.1f MiB" %
              ((os.path.getsize(header) + os.path.getsize(source)) / 1048576))
        print("bench: brookc_%d_types_wall %.3f s" % (count, best_wall))
        print("bench: brookc_%d_types_cpu %.3f s" % (count, best_cpu))


if __name__ == "__main__":
    main()
