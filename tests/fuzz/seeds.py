#!/usr/bin/python3
"""Writes the seed inputs of Brook's fuzz targets (docs/fuzzing.md) into DIR/<target>/:
valid inputs of each, so that fuzzing starts deep. tests/fuzz/corpus holds these seeds and the
inputs earlier runs added (merged with -merge=1); run this only to start a corpus afresh:

    /usr/bin/python3 tests/fuzz/seeds.py tests/fuzz/corpus

Needs Debian's python3-avro (the Avro binary of the alltypes values).
"""
import datetime
import decimal
import hashlib
import io
import json
import os
import struct
import sys
import uuid

import avro.io
import avro.schema

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
ALLTYPES = os.path.join(ROOT, "tests/codegen/valid/alltypes/schemas")

names = avro.schema.Names()
for f in ["common", "md5", "node", "mutual", "all"]:
    with open(os.path.join(ALLTYPES, f + ".avsc")) as fh:
        avro.schema.make_avsc_object(json.load(fh), names)


def binary(schema, value):
    b = io.BytesIO()
    avro.io.DatumWriter(schema).write(value, avro.io.BinaryEncoder(b))
    return b.getvalue()


def enc(name, value):
    return binary(names.names[name], value)


def crc64_avro(data):
    empty = 0xC15D213AA4D7A795
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
        table.append(fp)
    fp = empty
    for c in data:
        fp = (fp >> 8) ^ table[(fp ^ c) & 0xFF]
    return fp


def single_object(fingerprint, payload):
    return b"\xc3\x01" + struct.pack("<Q", fingerprint) + payload


def confluent(schema_id, payload):
    return b"\x00" + struct.pack(">i", schema_id) + payload


utc = datetime.timezone.utc
money = {"currency": "GBP", "units": 5, "nanos": 7}
node = {"value": 1, "children": [{"value": 2, "children": [], "next": None}],
        "next": {"value": 3, "children": [], "next": None}}
a_value = {"b": {"a": {"b": None}, "tag": "t"}}
all_value = dict(
    n=None, b=True, i=-5, l=123456789012, f=1.5, d=-0.25, by=b"\xff\x00a", s="h\u00e9",
    e="USD", fx=b"0123456789abcdef", arr=[1, 2, 3], arr_s=["a", "b"], m={"x": 1, "y": -2},
    opt="o", opt_rec=money, u=[1.5, 2.5], u2=5, nested=money, nested_def=money,
    arr_rec=[money, money], map_arr={"k": [None, 1, 2]}, int=7, default="", has_opt=False,
    rev=None, day=datetime.date(2024, 1, 2), tm=datetime.time(1, 2, 3, 4000),
    tu=datetime.time(1, 2, 3, 4), ts=datetime.datetime(2024, 1, 2, 3, 4, 5, 6000, tzinfo=utc),
    tsu=datetime.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=utc), lts=1704164645006,
    ltsu=1704164645006007, id=str(uuid.UUID(int=0x1234)), amount=decimal.Decimal("12.34"),
    amount_fx=decimal.Decimal("1.2345"), node=node, empty={},
    outer={"inner": {"z": True}, "again": {"z": False}, "money": money})

# The Avro JSON encoding of the values above (as the generated to_json writes it).
node_json = ('{"value":1,"children":[{"value":2,"children":[],"next":null}],'
             '"next":{"test.Node":{"value":3,"children":[],"next":null}}}')
all_json = (
    '{"n":null,"b":true,"i":-5,"l":123456789012,"f":1.5,"d":-0.25,"by":"\\u00ff\\u0000a",'
    '"s":"h\u00e9","e":"USD","fx":"0123456789abcdef","arr":[1,2,3],"arr_s":["a","b"],'
    '"m":{"x":1,"y":-2},"opt":{"string":"o"},"opt_rec":{"shop.Money":{"currency":"GBP",'
    '"units":5,"nanos":7}},"u":{"array":[1.5,2.5]},"u2":{"long":5},"nested":{"currency":"GBP",'
    '"units":5,"nanos":7},"nested_def":{"currency":"GBP","units":5,"nanos":7},"arr_rec":'
    '[{"currency":"GBP","units":5,"nanos":7}],"map_arr":{"k":[null,{"int":1},{"int":2}]},'
    '"int":7,"default":"","has_opt":false,"rev":null,"day":19724,"tm":3723004,'
    '"tu":3723000004,"ts":1704164645006,"tsu":1704164645000006,"lts":1704164645006,'
    '"ltsu":1704164645006007,"id":"00000000-0000-0000-0000-000000001234",'
    '"amount":"\\u0004\\u00d2","amount_fx":"\\u0000\\u0000\\u0000\\u0000\\u0000\\u000009",'
    '"node":' + node_json + ',"empty":{},"outer":{"x.y.Outer":{"inner":{"z":true},'
    '"again":{"z":false},"money":{"currency":"GBP","units":5,"nanos":7}}}}')

# shop.Money as an older producer wrote it (fuzz_avro_decode.c, fuzz_frame.c) and its
# canonical form.
money_v1 = ('{"type":"record","name":"shop.Money","fields":[{"name":"units","type":"int"},'
            '{"name":"extra","type":{"type":"map","values":["null","string",{"type":"array",'
            '"items":"double"}]}},{"name":"currency","type":{"type":"enum","name":"Currency",'
            '"symbols":["GBP","CHF"]}}]}')
money_v1_pcf = ('{"name":"shop.Money","type":"record","fields":[{"name":"units","type":"int"},'
                '{"name":"extra","type":{"type":"map","values":["null","string",{"type":"array",'
                '"items":"double"}]}},{"name":"currency","type":{"name":"shop.Currency",'
                '"type":"enum","symbols":["GBP","CHF"]}}]}')
money_v1_value = {"units": 9, "extra": {"a": None, "b": "s", "c": [1.0, -2.5]}, "currency": "CHF"}
money_v1_bin = binary(avro.schema.parse(money_v1), money_v1_value)

# The fingerprints of the generated types (fuzz.brook.c).
FP = {"shop.Money": 0x7A13FDFB622C4F83, "test.All": 0xDE9839A2AFFED3E9,
      "test.Node": 0x835CB9ECA460A707, "test.A": 0xA2E680E9494E2F1D}


def self_contained(name):
    return json.dumps(names.names[name].to_json(avro.schema.Names()), separators=(",", ":"))


# A writer for fuzz_avro_resolve.c's hand-written reader (aliases, an unknown enum symbol).
old_writer = ('{"type":"record","name":"fz.Old","fields":[{"name":"ident","type":"int"},'
              '{"name":"label","type":"string"},{"name":"kind","type":{"type":"enum",'
              '"name":"Kind","symbols":["A","Z"]}},{"name":"items","type":{"type":"array",'
              '"items":{"type":"record","name":"Item","fields":[{"name":"q","type":"int"}]}}},'
              '{"name":"dropped","type":["null","long"]}]}')
old_value = {"ident": 7, "label": "l", "kind": "Z", "items": [{"q": 1}, {"q": 2}],
             "dropped": 3}

decl_kitchen_sink = """# every kind of setting, once
service = {
  name = "fuzz-service"; bootstrap = "localhost:9092"; embedded_brokers = 3;
  kafka = { linger_ms = 5; security_protocol = "SSL"; enable_idempotence = true; };
  shutdown_timeout_ms = 86400000L; commit_interval_ms = 200;
  http = { port = 9464; bind = "0.0.0.0"; };
};
schemas = [ "schemas/a.avsc", "schemas/b.avsc" ];
writer_schemas = [ "schemas/v1/a.avsc" ];
schema_registry = { url = "https://registry:8081"; subject_strategy = "topic_record";
  auto_register = false; username = "u"; password = "p"; ca_location = "/ca.pem";
  certificate_location = "/c.pem"; key_location = "/k.pem"; key_password = "kp";
  ssl_verify = false; timeout_ms = 500; cache_capacity = 10; };
topics = (
  { name = "orders"; partitions = 6; replication = 3; config = { min_insync_replicas = 2; retention_ms = "604800000"; }; },
  { name = "replies"; }
);
templates = (
  { name = "out"; topic = "orders"; key = "string"; value = "shop.Order"; framing = "confluent"; transactional = true; },
  { name = "ask"; topic = "requests"; key = "bytes"; value = "json";
    reply = { topic = "replies"; partition = 2; value = "shop.Answer"; timeout_ms = 3000; }; }
);
listeners = (
  { id = "main"; topics = [ "orders", "more" ]; group = "g"; key = "string"; value = "shop.Order";
    handler = "on_order"; concurrency = 3; ack = "manual"; start_from = "latest";
    retry = { attempts = 4; mode = "topics"; preserve_key_order = true; not_retryable = [ "shop.Bad" ];
              backoff = { delay_ms = 100; multiplier = 2.0; max_delay_ms = 1000; }; };
    dlt = { enabled = true; topic = "orders-dead"; }; isolation = "read_uncommitted";
    auto_startup = false; filter = "keep"; raw_filter = "keep_raw"; reply = "out"; },
  { id = "eos"; topic_pattern = "^shop\\\\..*"; handler = "on_eos"; exactly_once = true;
    transaction = { max_records = 10; max_ms = 50; }; retry = { attempts = 2; mode = "blocking"; }; },
  { id = "batch"; topics = [ "b" ]; handler = "on_batch"; batch = { max_records = 5; max_wait_ms = 10; };
    ack = "batch"; dlt = { enabled = false; }; }
);
"""


def header_seq(headers):
    """fuzz_headers.c's input: (known index or literal name, value bytes or None)."""
    out = b""
    for name, value in headers:
        if isinstance(name, int):
            out += bytes([name])
        else:
            out += bytes([0x80 | len(name)]) + name.encode()
        if value is None:
            out += b"\xff"
        else:
            out += bytes([len(value)]) + value
    return out


def seeds():
    s = {}
    all_bin = enc("test.All", all_value)
    money_bin = enc("shop.Money", money)
    node_bin = enc("test.Node", node)
    a_bin = enc("test.A", a_value)
    s["fuzz_avro_decode"] = [
        b"\x00" + all_bin, b"\x01" + node_bin, b"\x02" + a_bin,
        b"\x03" + single_object(FP["shop.Money"], money_bin), b"\x03" + confluent(7, money_bin),
        b"\x04" + binary(avro.schema.parse(money_v1),
                         {"units": 9, "extra": {"a": None, "b": "s", "c": [1.0]},
                          "currency": "GBP"}),
        b"\x05" + node_json.encode(), b"\x0b" + all_json.encode()]
    s["fuzz_avro_resolve"] = [
        b"\x00" + money_v1.encode() + b"\x00" + money_v1_bin,
        b"\x00" + self_contained("shop.Money").encode() + b"\x00" + money_bin,
        b"\x01" + self_contained("test.All").encode() + b"\x00" + all_bin,
        b"\x02" + self_contained("test.Node").encode() + b"\x00" + node_bin,
        b"\x03" + self_contained("test.A").encode() + b"\x00" + a_bin,
        b"\x04" + old_writer.encode() + b"\x00" + binary(avro.schema.parse(old_writer), old_value)]
    s["fuzz_frame"] = [
        b"\x00" + single_object(FP["shop.Money"], money_bin),
        b"\x00" + single_object(crc64_avro(money_v1_pcf.encode()), money_v1_bin),
        b"\x00" + confluent(7, money_bin), b"\x00" + confluent(8, money_bin),
        b"\x01" + single_object(FP["test.All"], all_bin),
        b"\x02" + single_object(FP["test.Node"], node_bin),
        b"\x03" + single_object(FP["test.A"], a_bin), b"\x04hello", b'\x05{"a":[1,2.5,"x"]}']
    decls = [os.path.join(ROOT, p) for p in [
        "samples/hello/hello.brook", "samples/shop/services/payment.brook",
        "samples/shop/services/order.brook", "tests/codegen/valid/request_reply/service.brook",
        "tests/codegen/valid/batch/service.brook", "tests/codegen/valid/filters/service.brook"]]
    s["fuzz_decl"] = [open(p, "rb").read() for p in decls if os.path.exists(p)]
    s["fuzz_decl"] += [decl_kitchen_sink.encode(), b'service = { name = "x"; };\n']
    avsc = [open(os.path.join(ALLTYPES, f + ".avsc"), "rb").read()
            for f in ["common", "md5", "node", "mutual", "all"]]
    s["fuzz_schema"] = avsc + [
        money_v1.encode() + b"\x00" + self_contained("shop.Money").encode(),
        old_writer.encode() + b"\x00" + self_contained("test.Node").encode(),
        self_contained("test.All").encode()]
    s["fuzz_brookc_schema"] = avsc[:3] + [self_contained("test.All").encode(),
                                          money_v1.encode(), old_writer.encode()]
    be32 = lambda v: struct.pack(">i", v)
    be64 = lambda v: struct.pack(">q", v)
    s["fuzz_headers"] = [
        # a DLT record as Spring's DeadLetterPublishingRecoverer writes it
        header_seq([(7, b"orders"), (8, be32(3)), (9, be64(42)), (10, be64(1700000000123)),
                    (11, b"CreateTime"), (12, b"group"), (3, b"java.lang.RuntimeException"),
                    (4, b"boom"), (6, b"at x")]),
        # a retry record: attempts, BigInteger timestamps, Spring's retry-topic names
        header_seq([(0, be32(2)), (1, b"\x01\x8b\xcf\xe5\x68\x00"), (2, b"\x01\x8b\xcf\xe5"),
                    (13, b"orders"), (14, be32(1)), (15, be64(7)), (18, b"x.Y"), (20, b"m"),
                    ("traceparent", b"00-abc"), (0, b"\x03")]),
        header_seq([(0, None), (1, b"\xff"), (2, b""), ("k", None)])]
    schema_answer = json.dumps({"schema": money_v1, "schemaType": "AVRO", "references": []})
    s["fuzz_registry_json"] = [
        b"\x00" + schema_answer.encode(), b"\x00" + json.dumps({"schema": '"string"'}).encode(),
        b"\x00" + b'{"schema":"syntax = \\"proto3\\";","schemaType":"PROTOBUF"}',
        b'\x00{"id":5}', b'\x08{"id":2147483647}',
        b'\x01{"error_code":40403,"message":"Schema 42 not found"}',
        b'\x09{"error_code":40401,"message":"Subject not found"}',
        b'\x02{"error_code":409,"message":"incompatible"}',
        b'\x03{"error_code":42201,"message":"Invalid schema"}',
        b'\x04{"error_code":50001,"message":"Error in the backend data store"}',
        b"\x05<html>401</html>"]
    return s


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus")
    for target, inputs in seeds().items():
        d = os.path.join(out, target)
        os.makedirs(d, exist_ok=True)
        for data in inputs:
            # named as libFuzzer names corpus files: the SHA-1 of the content
            with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as fh:
                fh.write(data)


if __name__ == "__main__":
    main()
