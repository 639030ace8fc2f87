package dev.brook.peer;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;

import org.springframework.beans.factory.annotation.Value;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.context.annotation.Bean;
import org.springframework.kafka.annotation.KafkaListener;
import org.springframework.kafka.listener.CommonErrorHandler;
import org.springframework.kafka.support.KafkaHeaders;
import org.springframework.messaging.handler.annotation.Header;
import org.springframework.stereotype.Component;

/**
 * {@code dlt-read}: dead-letter records written by Brook, read by Spring. The headers are
 * read the way a Spring application reads them: {@code @Header} parameters named by
 * {@link KafkaHeaders} constants. The inbound header mapper leaves the values as byte[];
 * the {@code @KafkaListener} method factory converts byte[] to Integer/Long (big-endian,
 * ByteBuffer.getInt/getLong) and to String (UTF-8).
 */
@Component
@ConditionalOnProperty(name = "peer.mode", havingValue = "dlt-read")
class DltReadMode {

	private final Events events;

	private final Avro avro;

	DltReadMode(Events events, Avro avro) {
		this.events = events;
		this.avro = avro;
	}

	@Bean
	static NewTopic dltReadTopic(@Value("${peer.topic}") String topic, @Value("${peer.partitions:-1}") int partitions) {
		return ListenerModes.topic(topic, partitions);
	}

	@Bean
	static CommonErrorHandler dltReadErrorHandler(Events events) {
		return ListenerModes.reportingErrorHandler(events);
	}

	@KafkaListener(id = "peer-dlt-read", topics = "${peer.topic}", groupId = "${peer.group}")
	void read(ConsumerRecord<String, byte[]> rec,
			@Header(name = KafkaHeaders.DLT_ORIGINAL_TOPIC, required = false) String originalTopic,
			@Header(name = KafkaHeaders.DLT_ORIGINAL_PARTITION, required = false) Integer originalPartition,
			@Header(name = KafkaHeaders.DLT_ORIGINAL_OFFSET, required = false) Long originalOffset,
			@Header(name = KafkaHeaders.DLT_ORIGINAL_TIMESTAMP, required = false) Long originalTimestamp,
			@Header(name = KafkaHeaders.DLT_ORIGINAL_TIMESTAMP_TYPE, required = false) String originalTimestampType,
			@Header(name = KafkaHeaders.DLT_ORIGINAL_CONSUMER_GROUP, required = false) String originalGroup,
			@Header(name = KafkaHeaders.DLT_EXCEPTION_FQCN, required = false) String exceptionFqcn,
			@Header(name = KafkaHeaders.DLT_EXCEPTION_MESSAGE, required = false) String exceptionMessage,
			@Header(name = KafkaHeaders.DLT_EXCEPTION_STACKTRACE, required = false) String exceptionStacktrace) {

		ObjectNode ev = ListenerModes.recordEvent(this.events, "dlt", rec);
		ev.put("original_topic", originalTopic);
		ev.put("original_partition", originalPartition);
		ev.put("original_offset", originalOffset);
		ev.put("original_timestamp", originalTimestamp);
		ev.put("original_timestamp_type", originalTimestampType);
		ev.put("original_consumer_group", originalGroup);
		ev.put("exception_fqcn", exceptionFqcn);
		ev.put("exception_message", exceptionMessage);
		ev.put("exception_stacktrace", exceptionStacktrace);
		ArrayNode names = ev.putArray("header_names");
		for (org.apache.kafka.common.header.Header h : rec.headers()) {
			names.add(h.key());
		}
		try {
			Avro.Decoded d = this.avro.decode(rec.value());
			ev.set("decoded", Avro.toJson(d.schema(), d.value()));
		}
		catch (Exception ex) {
			ev.putNull("decoded");
		}
		ev.put("value_hex", ListenerModes.hex(rec.value()));
		this.events.emit(ev);
	}

}
