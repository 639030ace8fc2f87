#!/usr/bin/python3
"""Interop of Brook's generated Avro codecs with python3-avro (run by tests/codegen's
test_codegen_interop, which passes a working directory).

In DIR, the C side wrote:
  schema_<Type>.json  a type's schema with defaults (Brook's resolution form, not canonical)
  pcf_<Type>.txt      Brook's Parsing Canonical Form of it
  fp_<Type>.txt       Brook's fingerprint, 16 hex digits
  all_<k>.bin         test.All values encoded by generated code
This script checks python's canonical form and the spec's CRC-64-AVRO against Brook's, decodes
and re-encodes every all_<k>.bin (must be byte-identical), and writes py_money.bin and
py_all.bin, values built here, for the C side to decode. Exit status 0 when all matched.
"""
import io
import math
import os
import sys

import avro.io
import avro.schema

EMPTY = 0xC15D213AA4D7A795


def crc64_avro(data: bytes) -> int:
    """The Avro specification's fingerprint algorithm, written from the spec."""
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (EMPTY & -(fp & 1))
        table.append(fp)
    fp = EMPTY
    for b in data:
        fp = (fp >> 8) ^ table[(fp ^ b) & 0xFF]
    return fp


def encode(schema, datum) -> bytes:
    buf = io.BytesIO()
    avro.io.DatumWriter(schema).write(datum, avro.io.BinaryEncoder(buf))
    return buf.getvalue()


def decode(schema, data: bytes):
    return avro.io.DatumReader(schema).read(avro.io.BinaryDecoder(io.BytesIO(data)))


def main(d: str) -> int:
    failures = 0
    schemas = {}
    for name in sorted(os.listdir(d)):
        if not name.startswith("schema_"):
            continue
        t = name[len("schema_"):-len(".json")]
        text = open(os.path.join(d, name)).read()
        s = avro.schema.parse(text)
        schemas[t] = s
        pcf = open(os.path.join(d, "pcf_%s.txt" % t)).read()
        fp = open(os.path.join(d, "fp_%s.txt" % t)).read().strip()
        if s.canonical_form != pcf:
            print("canonical form of %s differs:\n python %s\n brook  %s" % (t, s.canonical_form, pcf))
            failures += 1
        want = "%016x" % crc64_avro(s.canonical_form.encode())
        if want != fp:
            print("fingerprint of %s differs: python %s brook %s" % (t, want, fp))
            failures += 1
    all_schema = schemas["test.All"]
    k = 0
    while os.path.exists(os.path.join(d, "all_%d.bin" % k)):
        data = open(os.path.join(d, "all_%d.bin" % k), "rb").read()
        try:
            value = decode(all_schema, data)
            again = encode(all_schema, value)
            if again != data:
                print("all_%d.bin: python re-encodes %d bytes differently (%d bytes in)" % (k, len(again), len(data)))
                failures += 1
        except Exception as e:  # noqa: BLE001 - report any decode failure
            print("all_%d.bin: python cannot decode: %r" % (k, e))
            failures += 1
        k += 1
    if k == 0:
        print("no all_<k>.bin files")
        failures += 1
    money = {"currency": "GBP", "units": -(2 ** 63), "nanos": 2 ** 31 - 1}
    open(os.path.join(d, "py_money.bin"), "wb").write(encode(schemas["shop.Money"], money))
    # A value built here: one of ours decoded (so logical types carry python's own types),
    # then plain fields set by python.
    value = decode(all_schema, open(os.path.join(d, "all_0.bin"), "rb").read())
    value.update({
        "b": False, "i": -(2 ** 31), "l": 2 ** 63 - 1, "f": float("inf"), "d": math.pi,
        "by": b"\x00\x01\xfe", "s": "p\u00fcthon \u2603", "e": "USD", "fx": bytes(range(16)),
        "arr": [1, -1, 0], "arr_s": [], "m": {"a": 1, "b": -2}, "opt": "here", "opt_rec": None,
        "u": {"currency": "EUR", "units": 5, "nanos": 6}, "u2": 77, "nested": money,
        "arr_rec": [money, money], "map_arr": {"k": [None, 3]}, "int": 42, "rev": None,
        "node": {"value": 1, "children": [{"value": 2, "children": [], "next": None}],
                 "next": {"value": 3, "children": [], "next": None}},
        "outer": {"inner": {"z": True}, "again": {"z": False}, "money": money},
    })
    open(os.path.join(d, "py_all.bin"), "wb").write(encode(all_schema, value))
    print("python3-avro %s: %d schemas, %d values checked, %d failure(s)" % (avro.__version__, len(schemas), k, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
