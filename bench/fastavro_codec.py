#!/usr/bin/env python3
"""The codec benchmark's record (codec_order.avsc, the values of codec_bench.c's fill()) through
fastavro, a second peer beside avro-c: schemaless_writer and schemaless_reader, the fastest
calls fastavro has for one record, best of ROUNDS rounds of N records in process CPU time.
Checks that fastavro writes the bytes of Brook's generated encoder (`codec_bench hex`), then
runs codec_bench for its own figures in the same run and prints `bench:` and
`ratio: codec_<op>_vs_fastavro` lines (fastavro's time / the generated code's).

    fastavro_codec.py SCHEMA CODEC_BENCH [N] [ROUNDS]

Run by the interpreter of tests/registry/pyenv.py's virtualenv (fastavro from PyPI).
"""
import io
import json
import subprocess
import sys
import time

import fastavro


def record():
    return {
        "id": "ord-2f1c9a7e-0c1b-4b8e-9a43-1d2f3e4a5b6c",
        "customer": "customer-000123456",
        "created": 1700000000123,
        "status": "PAID",
        "total": 578.73,
        "quantity": 15,
        "express": True,
        "note": "leave at the door",
        "items": [
            {"sku": "SKU-000001", "qty": 2, "price_cents": 1999},
            {"sku": "SKU-000002", "qty": 1, "price_cents": 54900},
            {"sku": "SKU-000003", "qty": 12, "price_cents": 250},
        ],
        "tags": {"channel": "web", "region": "eu-west-1"},
    }


def best(fn, n, rounds):
    t = None
    for _ in range(rounds):
        t0 = time.process_time_ns()
        for _ in range(n):
            fn()
        dt = (time.process_time_ns() - t0) / n
        t = dt if t is None else min(t, dt)
    return t


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        schema = fastavro.parse_schema(json.load(f))
    codec_bench = sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 50000
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    rec = record()
    out = io.BytesIO()
    fastavro.schemaless_writer(out, schema, rec)
    data = out.getvalue()
    want = bytes.fromhex(subprocess.run([codec_bench, "hex"], check=True, capture_output=True,
                                        text=True).stdout.strip())
    # The timestamp-millis field: fastavro takes an int as the milliseconds, as written.
    if data != want:
        sys.exit("fastavro and the generated encoder wrote different bytes:\n%s\n%s" %
                 (data.hex(), want.hex()))
    if fastavro.schemaless_reader(io.BytesIO(data), schema)["items"][2]["price_cents"] != 250:
        sys.exit("fastavro read back a different record")

    def encode():
        b = io.BytesIO()
        fastavro.schemaless_writer(b, schema, rec)
        return b.getvalue()

    def decode():
        return fastavro.schemaless_reader(io.BytesIO(data), schema)

    enc = best(encode, n, rounds)
    dec = best(decode, n, rounds)
    figures = {}
    for line in subprocess.run([codec_bench], check=True, capture_output=True,
                               text=True).stdout.splitlines():
        w = line.split()
        if len(w) == 4 and w[0] == "bench:" and w[3] == "ns/op":
            figures[w[1]] = float(w[2])
    gen_enc = figures["codec_encode_generated"]
    gen_dec = figures["codec_decode_generated"]
    print("bench: codec_encode_fastavro %.1f ns/op (fastavro %s)" % (enc, fastavro.__version__))
    print("bench: codec_decode_fastavro %.1f ns/op" % dec)
    print("bench: codec_encode_generated %.1f ns/op (same run)" % gen_enc)
    print("bench: codec_decode_generated %.1f ns/op (same run)" % gen_dec)
    print("ratio: codec_encode_vs_fastavro %.1f" % (enc / gen_enc))
    print("ratio: codec_decode_vs_fastavro %.1f" % (dec / gen_dec))


if __name__ == "__main__":
    main()
