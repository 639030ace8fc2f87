package dev.brook.peer;

import java.util.HexFormat;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;

import org.springframework.kafka.config.TopicBuilder;
import org.springframework.kafka.listener.CommonErrorHandler;
import org.springframework.kafka.listener.DefaultErrorHandler;
import org.springframework.util.backoff.FixedBackOff;

/** Helpers shared by the listener modes. */
final class ListenerModes {

	private ListenerModes() {
	}

	/** A topic to create if missing; partitions &lt; 1: the broker's default. */
	static NewTopic topic(String name, int partitions) {
		TopicBuilder b = TopicBuilder.name(name);
		if (partitions > 0) {
			b.partitions(partitions);
		}
		return b.build();
	}

	/** An unexpected listener failure: an error event, no retries, the record skipped. */
	static CommonErrorHandler reportingErrorHandler(Events events) {
		return new DefaultErrorHandler((rec, ex) -> {
			ObjectNode ev = events.event("error");
			ev.put("message", Events.describe(ex));
			ev.put("topic", rec.topic());
			ev.put("partition", rec.partition());
			ev.put("offset", rec.offset());
			ev.put("key", rec.key() == null ? null : rec.key().toString());
			events.emit(ev);
		}, new FixedBackOff(0L, 0L));
	}

	static ObjectNode recordEvent(Events events, String name, ConsumerRecord<String, ?> rec) {
		ObjectNode ev = events.event(name);
		ev.put("topic", rec.topic());
		ev.put("partition", rec.partition());
		ev.put("offset", rec.offset());
		ev.put("key", rec.key());
		return ev;
	}

	static String hex(byte[] bytes) {
		return bytes == null ? null : HexFormat.of().formatHex(bytes);
	}

}
