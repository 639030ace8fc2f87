"""Python's confluent_kafka with its Schema Registry Avro serializers (fastavro), as a Python
service would write and read Brook's topics. Run by tests/registry/registry.c with the
interpreter pyenv.py made.

    py_avro.py produce BOOTSTRAP REGISTRY TOPIC SCHEMA.avsc N
        AvroSerializer (auto-registering under <TOPIC>-value) writes order(i) for i < N,
        key "py-<i>"; prints "schema-id <id>" at the end.
    py_avro.py consume BOOTSTRAP REGISTRY TOPIC N
        AvroDeserializer (writer schema from the registry) reads N records from the start of
        TOPIC; prints one JSON line per record: {"key":..., "schema_id":..., "value":{...}}.
    py_avro.py register REGISTRY SUBJECT SCHEMA.avsc
        registers the schema under SUBJECT; prints its id (exit 2 when refused, with why).
    py_avro.py latest REGISTRY SUBJECT
        prints the id of SUBJECT's latest version.

order(i) is defined the same way in registry.c; with a schema that has the fields of version
2 (note, priority), they are written too.
"""
import json
import sys
import time
import uuid

from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext


def order(i, v2=False):
    value = {
        "id": f"py-{i}",
        "amount": i * 100 + 7,
        "currency": "USD" if i % 2 else "EUR",
        "ratio": i / 4.0,
        "coupon": None if i % 3 == 0 else f"c\u00e4-{i}",
    }
    if v2:
        value.update(note=f"note-{i}", priority=i % 5)
    return value


def produce(bootstrap, registry, topic, schema_path, n):
    with open(schema_path) as f:
        schema = f.read()
    client = SchemaRegistryClient({"url": registry})
    serializer = AvroSerializer(client, schema, conf={"auto.register.schemas": True})
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    failures = []
    ctx = SerializationContext(topic, MessageField.VALUE)
    value = None
    v2 = any(f["name"] == "note" for f in json.loads(schema)["fields"])
    for i in range(n):
        value = serializer(order(i, v2), ctx)
        producer.produce(topic, key=f"py-{i}".encode(), value=value,
                         on_delivery=lambda err, msg: err and failures.append(str(err)))
        producer.poll(0)
    if producer.flush(30) or failures:
        sys.exit(f"py_avro: not delivered: {failures}")
    print("schema-id", int.from_bytes(value[1:5], "big"))


def consume(bootstrap, registry, topic, n):
    client = SchemaRegistryClient({"url": registry})
    deserializer = AvroDeserializer(client)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "py-avro-" + uuid.uuid4().hex,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    got, deadline = 0, time.monotonic() + 60
    while got < n and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            sys.exit(f"py_avro: {msg.error()}")
        raw = msg.value()
        value = deserializer(raw, SerializationContext(topic, MessageField.VALUE))
        print(json.dumps({"key": msg.key().decode(), "schema_id": int.from_bytes(raw[1:5], "big"),
                          "value": value}, sort_keys=True), flush=True)
        got += 1
    consumer.close()
    if got < n:
        sys.exit(f"py_avro: read {got} of {n} records")


def register(registry, subject, schema_path):
    from confluent_kafka.schema_registry import Schema
    from confluent_kafka.schema_registry.error import SchemaRegistryError
    with open(schema_path) as f:
        schema = Schema(f.read(), "AVRO")
    try:
        print(SchemaRegistryClient({"url": registry}).register_schema(subject, schema))
    except SchemaRegistryError as e:
        print(f"refused: {e}")
        sys.exit(2)


def latest(registry, subject):
    print(SchemaRegistryClient({"url": registry}).get_latest_version(subject).schema_id)


def main():
    if len(sys.argv) >= 5 and sys.argv[1] == "register":
        register(sys.argv[2], sys.argv[3], sys.argv[4])
    elif len(sys.argv) >= 4 and sys.argv[1] == "latest":
        latest(sys.argv[2], sys.argv[3])
    elif len(sys.argv) >= 7 and sys.argv[1] == "produce":
        produce(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6]))
    elif len(sys.argv) >= 6 and sys.argv[1] == "consume":
        consume(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
