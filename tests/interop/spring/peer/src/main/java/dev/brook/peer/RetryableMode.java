package dev.brook.peer;

import java.math.BigInteger;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.kafka.clients.consumer.ConsumerRecord;

import org.springframework.beans.factory.annotation.Value;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.kafka.annotation.BackOff;
import org.springframework.kafka.annotation.DltHandler;
import org.springframework.kafka.annotation.KafkaListener;
import org.springframework.kafka.annotation.RetryableTopic;
import org.springframework.kafka.retrytopic.RetryTopicHeaders;
import org.springframework.kafka.support.KafkaMessageHeaderAccessor;
import org.springframework.messaging.Message;
import org.springframework.stereotype.Component;

/**
 * {@code retryable}: Spring's non-blocking retries. The key decides: {@code fail*} always
 * throws, {@code ok*} succeeds, {@code once*} throws on the main topic only.
 */
@Component
@ConditionalOnProperty(name = "peer.mode", havingValue = "retryable")
class RetryableMode {

	private final Events events;

	private final Avro avro;

	private final String mainTopic;

	RetryableMode(Events events, Avro avro, @Value("${peer.topic}") String mainTopic) {
		this.events = events;
		this.avro = avro;
		this.mainTopic = mainTopic;
	}

	@RetryableTopic(attempts = "${peer.attempts:3}",
			backOff = @BackOff(delayString = "${peer.delay-ms:1000}", multiplierString = "${peer.multiplier:2.0}",
					maxDelayString = "${peer.max-delay-ms:10000}"),
			autoCreateTopics = "true", numPartitions = "${peer.partitions:2}",
			replicationFactor = "${peer.replication-factor:-1}")
	@KafkaListener(id = "peer-retryable", topics = "${peer.topic}", groupId = "${peer.group}")
	void handle(ConsumerRecord<String, byte[]> rec, Message<?> message) {
		long now = System.currentTimeMillis();
		ObjectNode ev = ListenerModes.recordEvent(this.events, "handle", rec);
		// The headers as Spring maps them (the inbound header mapper: the last value of a
		// repeated header wins), read as spring-kafka reads them.
		KafkaMessageHeaderAccessor headers = KafkaMessageHeaderAccessor.wrap(message);
		try {
			ev.put("attempt", headers.getNonBlockingRetryDeliveryAttempt());
		}
		catch (RuntimeException ex) {
			ev.putNull("attempt");
			ev.put("attempt_error", Events.describe(ex));
		}
		putBigInteger(ev, "backoff_ts", headers, RetryTopicHeaders.DEFAULT_HEADER_BACKOFF_TIMESTAMP);
		putBigInteger(ev, "original_ts", headers, RetryTopicHeaders.DEFAULT_HEADER_ORIGINAL_TIMESTAMP);
		ev.put("now_ms", now);
		String key = rec.key() == null ? "" : rec.key();
		boolean fail = key.startsWith("fail") || (key.startsWith("once") && rec.topic().equals(this.mainTopic));
		ev.put("result", fail ? "fail" : "ok");
		try {
			Avro.Decoded d = this.avro.decodeSingleObject(rec.value());
			ev.set("decoded", Avro.toJson(d.schema(), d.value()));
		}
		catch (Exception ex) {
			ev.putNull("decoded");
		}
		this.events.emit(ev);
		if (fail) {
			throw new IllegalStateException("peer failed " + rec.key());
		}
	}

	/** As KafkaBackoffAwareMessageListenerAdapter reads the backoff header: new BigInteger(bytes).longValue(). */
	private static void putBigInteger(ObjectNode ev, String field, KafkaMessageHeaderAccessor headers, String name) {
		byte[] bytes = headers.getHeader(name, byte[].class);
		if (bytes == null || bytes.length == 0) {
			ev.putNull(field);
		}
		else {
			ev.put(field, new BigInteger(bytes).longValue());
		}
	}

	@DltHandler
	void dlt(ConsumerRecord<String, byte[]> rec) {
		ObjectNode ev = ListenerModes.recordEvent(this.events, "dlt-handled", rec);
		ev.put("now_ms", System.currentTimeMillis());
		this.events.emit(ev);
	}

}
