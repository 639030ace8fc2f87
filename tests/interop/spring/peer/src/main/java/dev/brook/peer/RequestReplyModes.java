package dev.brook.peer;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Header;

import org.springframework.beans.factory.annotation.Value;
import org.springframework.boot.ApplicationRunner;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.kafka.annotation.KafkaListener;
import org.springframework.kafka.core.ConsumerFactory;
import org.springframework.kafka.core.ProducerFactory;
import org.springframework.kafka.listener.CommonErrorHandler;
import org.springframework.kafka.listener.ContainerProperties;
import org.springframework.kafka.listener.KafkaMessageListenerContainer;
import org.springframework.kafka.requestreply.ReplyingKafkaTemplate;
import org.springframework.kafka.support.KafkaHeaders;
import org.springframework.kafka.support.TopicPartitionOffset;
import org.springframework.messaging.handler.annotation.SendTo;
import org.springframework.stereotype.Component;

/**
 * Request-reply with Brook (docs/request-reply.md): {@code replier}, a {@code @KafkaListener}
 * whose {@code @SendTo} reply goes where each request's {@code kafka_replyTopic} and
 * {@code kafka_replyPartition} say, and {@code requester}, a {@code ReplyingKafkaTemplate}
 * asking {@code peer.count} questions one after another.
 */
final class RequestReplyModes {

	private RequestReplyModes() {
	}

	static String text(byte[] b) {
		return b == null ? null : new String(b, StandardCharsets.UTF_8);
	}

	static String header(ConsumerRecord<?, ?> rec, String name) {
		Header h = rec.headers().lastHeader(name);
		return h == null ? null : ListenerModes.hex(h.value());
	}

	/** {@code replier}: answers "spring:" + the request's value (bare {@code @SendTo}). */
	@Component
	@ConditionalOnProperty(name = "peer.mode", havingValue = "replier")
	static class Replier {

		private final Events events;

		Replier(Events events) {
			this.events = events;
		}

		@Bean
		static NewTopic replierTopic(@Value("${peer.topic}") String topic,
				@Value("${peer.partitions:-1}") int partitions) {
			return ListenerModes.topic(topic, partitions);
		}

		@Bean
		static CommonErrorHandler replierErrorHandler(Events events) {
			return ListenerModes.reportingErrorHandler(events);
		}

		@KafkaListener(id = "peer-replier", topics = "${peer.topic}", groupId = "${peer.group}")
		@SendTo
		byte[] reply(ConsumerRecord<String, byte[]> rec) {
			ObjectNode ev = ListenerModes.recordEvent(this.events, "request", rec);
			ev.put("value", text(rec.value()));
			ev.put("correlation_hex", header(rec, KafkaHeaders.CORRELATION_ID));
			ev.put("reply_topic_hex", header(rec, KafkaHeaders.REPLY_TOPIC));
			ev.put("reply_partition_hex", header(rec, KafkaHeaders.REPLY_PARTITION));
			this.events.emit(ev);
			return ("spring:" + text(rec.value())).getBytes(StandardCharsets.UTF_8);
		}

	}

	/**
	 * {@code requester}: a ReplyingKafkaTemplate whose reply container reads
	 * {@code peer.reply-topic} (only {@code peer.reply-partition} when given, which the template
	 * then names in {@code kafka_replyPartition}); asks "q0".."q(count-1)" keyed "k0".., one at a
	 * time, each reply an event; then {@code done} and exit 0.
	 */
	@Configuration(proxyBeanMethods = false)
	@ConditionalOnProperty(name = "peer.mode", havingValue = "requester")
	static class Requester {

		@Bean
		KafkaMessageListenerContainer<String, byte[]> repliesContainer(ConsumerFactory<String, byte[]> cf,
				@Value("${peer.reply-topic}") String replyTopic, @Value("${peer.reply-partition:-1}") int partition,
				@Value("${peer.group}") String group) {
			ContainerProperties props = partition >= 0
					? new ContainerProperties(new TopicPartitionOffset(replyTopic, partition))
					: new ContainerProperties(replyTopic);
			props.setGroupId(group);
			return new KafkaMessageListenerContainer<>(cf, props);
		}

		@Bean
		ReplyingKafkaTemplate<String, byte[], byte[]> replyingTemplate(ProducerFactory<String, byte[]> pf,
				KafkaMessageListenerContainer<String, byte[]> repliesContainer) {
			return new ReplyingKafkaTemplate<>(pf, repliesContainer);
		}

		@Bean
		ApplicationRunner requesterRunner(ConfigurableApplicationContext ctx,
				ReplyingKafkaTemplate<String, byte[], byte[]> template, Events events,
				@Value("${peer.topic}") String topic, @Value("${peer.count:10}") int count) {
			return args -> {
				int code = 0;
				try {
					if (!template.waitForAssignment(Duration.ofSeconds(60))) {
						throw new IllegalStateException("the reply container got no partition");
					}
					template.partitionsFor(topic);
					events.ready();
					for (int i = 0; i < count; i++) {
						ProducerRecord<String, byte[]> rec = new ProducerRecord<>(topic, "k" + i,
								("q" + i).getBytes(StandardCharsets.UTF_8));
						ConsumerRecord<String, byte[]> reply = template
							.sendAndReceive(rec, Duration.ofSeconds(30))
							.get(60, TimeUnit.SECONDS);
						ObjectNode ev = ListenerModes.recordEvent(events, "reply", reply);
						ev.put("request", "q" + i);
						ev.put("value", text(reply.value()));
						ev.put("correlation_hex", header(reply, KafkaHeaders.CORRELATION_ID));
						Header sent = rec.headers().lastHeader(KafkaHeaders.CORRELATION_ID);
						ev.put("request_correlation_hex", sent == null ? null : ListenerModes.hex(sent.value()));
						events.emit(ev);
					}
					ObjectNode done = events.event("done");
					done.put("count", count);
					events.emit(done);
				}
				catch (Throwable ex) {
					events.error(Events.describe(ex));
					code = 1;
				}
				int exit = code;
				System.exit(SpringApplication.exit(ctx, () -> exit));
			};
		}

	}

}
