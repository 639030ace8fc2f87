package dev.brook.peer;

import java.nio.charset.StandardCharsets;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.header.Header;

import org.springframework.beans.factory.annotation.Value;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.context.annotation.Bean;
import org.springframework.kafka.annotation.KafkaListener;
import org.springframework.kafka.listener.CommonErrorHandler;
import org.springframework.stereotype.Component;

/**
 * {@code avro-check}: records written by Brook, decoded by the peer and compared field by
 * field with the Avro JSON in their {@code expected-json} header.
 */
@Component
@ConditionalOnProperty(name = "peer.mode", havingValue = "avro-check")
class AvroCheckMode {

	static final String EXPECTED_JSON = "expected-json";

	private final Events events;

	private final Avro avro;

	AvroCheckMode(Events events, Avro avro) {
		this.events = events;
		this.avro = avro;
	}

	@Bean
	static NewTopic avroCheckTopic(@Value("${peer.topic}") String topic,
			@Value("${peer.partitions:-1}") int partitions) {
		return ListenerModes.topic(topic, partitions);
	}

	@Bean
	static CommonErrorHandler avroCheckErrorHandler(Events events) {
		return ListenerModes.reportingErrorHandler(events);
	}

	@KafkaListener(id = "peer-avro-check", topics = "${peer.topic}", groupId = "${peer.group}")
	void check(ConsumerRecord<String, byte[]> rec) {
		ObjectNode ev = ListenerModes.recordEvent(this.events, "record", rec);
		try {
			Avro.Decoded d = this.avro.decode(rec.value());
			Schema schema = d.schema();
			ev.put("framing", d.framing());
			ev.put("type", schema.getFullName());
			Header header = rec.headers().lastHeader(EXPECTED_JSON);
			if (header == null || header.value() == null) {
				ev.put("fields", 0);
				ev.putArray("mismatches");
				ev.set("decoded", Avro.toJson(schema, d.value()));
				ev.put("error", "no " + EXPECTED_JSON + " header");
			}
			else {
				Object expected = this.avro.fromJson(schema, new String(header.value(), StandardCharsets.UTF_8));
				compare(ev, schema, expected, d.value());
				ev.set("decoded", Avro.toJson(schema, d.value()));
			}
		}
		catch (Exception ex) {
			ev.put("error", Events.describe(ex));
		}
		this.events.emit(ev);
	}

	private static void compare(ObjectNode ev, Schema schema, Object expected, Object actual) {
		boolean record = schema.getType() == Schema.Type.RECORD;
		ev.put("fields", record ? schema.getFields().size() : 1);
		ArrayNode mismatches = ev.putArray("mismatches");
		if (record) {
			GenericRecord e = (GenericRecord) expected;
			GenericRecord a = (GenericRecord) actual;
			for (Schema.Field f : schema.getFields()) {
				compareOne(mismatches, f.name(), f.schema(), e.get(f.pos()), a.get(f.pos()));
			}
		}
		else { // a top-level enum or fixed: the whole value is the one "field", named ""
			compareOne(mismatches, "", schema, expected, actual);
		}
	}

	private static void compareOne(ArrayNode mismatches, String name, Schema schema, Object e, Object a) {
		String problem = null;
		boolean same;
		try {
			// GenericData.compare with equals semantics: NaN == NaN (Double/Float.compareTo),
			// bytes and fixed by content, maps by entries (the public compare throws on maps).
			same = Avro.Comparer.INSTANCE.same(e, a, schema);
		}
		catch (RuntimeException ex) {
			same = false;
			problem = Events.describe(ex);
		}
		if (!same) {
			ObjectNode m = mismatches.addObject();
			m.put("field", name);
			m.put("expected", GenericData.get().toString(e));
			m.put("actual", GenericData.get().toString(a));
			if (problem != null) {
				m.put("error", problem);
			}
		}
	}

}
