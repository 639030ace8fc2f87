#!/usr/bin/python3
"""The writer's side of registry.cli (cli.c, test_consume_registry), as a Confluent producer
does it without Brook: registers the schema below under SUBJECT over the schema registry's
REST API, encodes the values below with python3-avro and frames them (00, the id 4 bytes
big-endian, the Avro binary).

    registry_records.py URL SUBJECT

Prints one JSON object: {"id": <the registry's id>, "values": ["<framed value in hex>", ...]}.
"""
import io
import json
import struct
import sys
import urllib.request

import avro.io
import avro.schema

# What the registry holds has what a canonical form leaves out: docs, defaults, a namespace
# given apart from the name.
SCHEMA = {
    "type": "record", "name": "Trade", "namespace": "cli.reg",
    "doc": "A trade as another team's producer writes it; no Brook declaration has it.",
    "fields": [
        {"name": "sym", "type": "string"},
        {"name": "qty", "type": "long"},
        {"name": "px", "type": "double"},
        {"name": "side", "type": {"type": "enum", "name": "Side", "symbols": ["BUY", "SELL"]}},
        {"name": "venue", "type": ["null", "string"], "default": None},
        {"name": "legs", "type": {"type": "array", "items": {
            "type": "record", "name": "Leg", "fields": [{"name": "qty", "type": "int"}]}}},
        {"name": "tags", "type": {"type": "map", "values": "string"}},
        {"name": "raw", "type": "bytes", "doc": "opaque"},
    ],
}

# cli.c expects these, decoded, in this order.
VALUES = [
    {"sym": "ACME", "qty": 10000000000, "px": 12.5, "side": "SELL", "venue": "XNYS",
     "legs": [{"qty": 1}, {"qty": -2}], "tags": {"desk": "d1"}, "raw": b"\x00\xff"},
    {"sym": "Z\u00e9", "qty": -1, "px": -0.25, "side": "BUY", "venue": None, "legs": [],
     "tags": {}, "raw": b""},
]


def register(url, subject):
    text = json.dumps(SCHEMA)
    req = urllib.request.Request(
        "%s/subjects/%s/versions" % (url, subject), method="POST",
        data=json.dumps({"schema": text}).encode(),
        headers={"Content-Type": "application/vnd.schemaregistry.v1+json",
                 "User-Agent": "brook-cli-test"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())["id"]


def main():
    url, subject = sys.argv[1].rstrip("/"), sys.argv[2]
    schema_id = register(url, subject)
    schema = avro.schema.parse(json.dumps(SCHEMA))
    values = []
    for v in VALUES:
        buf = io.BytesIO()
        buf.write(b"\x00" + struct.pack(">i", schema_id))
        avro.io.DatumWriter(schema).write(v, avro.io.BinaryEncoder(buf))
        values.append(buf.getvalue().hex())
    print(json.dumps({"id": schema_id, "values": values}))


if __name__ == "__main__":
    main()
