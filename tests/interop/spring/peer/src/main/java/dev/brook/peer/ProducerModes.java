package dev.brook.peer;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.avro.Schema;
import org.apache.commons.logging.Log;
import org.apache.commons.logging.LogFactory;

import org.springframework.beans.factory.annotation.Value;
import org.springframework.boot.ApplicationRunner;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.kafka.core.KafkaTemplate;
import org.springframework.kafka.support.SendResult;

/**
 * The producer-only modes: {@code avro-send} and {@code keys-send}. Ready once the
 * topic's metadata was fetched; each send is synchronous; then {@code done} and exit 0.
 */
final class ProducerModes {

	private static final Log LOG = LogFactory.getLog(ProducerModes.class);

	private ProducerModes() {
	}

	/** One record to send. */
	record Out(String key, byte[] value) {
	}

	/** Produces the records in order, handing each to {@code send} as soon as it is made. */
	@FunctionalInterface
	interface Source {

		void forEach(Sink send) throws Exception;

	}

	@FunctionalInterface
	interface Sink {

		void send(Out out) throws Exception;

	}

	static ApplicationRunner runner(ConfigurableApplicationContext ctx, KafkaTemplate<String, byte[]> template,
			Events events, String topic, Source source) {
		return args -> {
			int code = 0;
			try {
				long start = System.nanoTime();
				template.partitionsFor(topic);
				LOG.info("metadata of " + topic + " fetched after " + (System.nanoTime() - start) / 1_000_000 + " ms");
				events.ready();
				int[] count = { 0 };
				source.forEach(out -> {
					SendResult<String, byte[]> result = template.send(topic, out.key(), out.value()).get();
					ObjectNode ev = events.event("sent");
					ev.put("key", out.key());
					ev.put("partition", result.getRecordMetadata().partition());
					ev.put("offset", result.getRecordMetadata().offset());
					events.emit(ev);
					count[0]++;
				});
				ObjectNode done = events.event("done");
				done.put("count", count[0]);
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

	static List<String> lines(String file) throws Exception {
		if (file == null || file.isEmpty()) {
			throw new IllegalArgumentException("--peer.input is required");
		}
		String text = Files.readString(Path.of(file), StandardCharsets.UTF_8);
		List<String> out = new ArrayList<>(List.of(text.split("\n", -1)));
		if (!out.isEmpty() && out.get(out.size() - 1).isEmpty()) {
			out.remove(out.size() - 1); // the final newline ends the last line
		}
		out.replaceAll(l -> l.endsWith("\r") ? l.substring(0, l.length() - 1) : l);
		return out;
	}

	/** {@code avro-send}: JSON lines of Avro JSON values, framed and sent by KafkaTemplate. */
	@Configuration(proxyBeanMethods = false)
	@ConditionalOnProperty(name = "peer.mode", havingValue = "avro-send")
	static class AvroSend {

		@Bean
		ApplicationRunner avroSendRunner(ConfigurableApplicationContext ctx, KafkaTemplate<String, byte[]> template,
				Events events, Avro avro, @Value("${peer.topic}") String topic,
				@Value("${peer.input:}") String input) {
			return runner(ctx, template, events, topic, send -> {
				int n = 0;
				for (String line : lines(input)) {
					n++;
					if (line.isBlank()) {
						continue;
					}
					Out out;
					try {
						out = avroSendRecord(avro, line);
					}
					catch (Exception ex) {
						throw new IllegalArgumentException("input line " + n + ": " + Events.describe(ex), ex);
					}
					send.send(out);
				}
			});
		}

		private static Out avroSendRecord(Avro avro, String line) throws Exception {
			JsonNode spec = Avro.JSON.readTree(line);
			JsonNode keyNode = spec.get("key");
			String key = keyNode == null || keyNode.isNull() ? null : keyNode.asText();
			String type = required(spec, "type").asText();
			String framing = required(spec, "framing").asText();
			Schema schema = avro.schema(type);
			Object datum = avro.fromJson(schema, required(spec, "value"));
			byte[] bytes = switch (framing) {
				case Avro.SINGLE_OBJECT -> avro.encodeSingleObject(schema, datum);
				case Avro.CONFLUENT -> avro.encodeConfluent(schema, required(spec, "id").asInt(), datum);
				default -> throw new IllegalArgumentException("unknown framing '" + framing + "'");
			};
			return new Out(key, bytes);
		}

		private static JsonNode required(JsonNode spec, String field) {
			JsonNode v = spec.get(field);
			if (v == null || v.isNull()) {
				throw new IllegalArgumentException("no '" + field + "'");
			}
			return v;
		}

	}

	/** {@code keys-send}: one key per line, value = the key's UTF-8 bytes, default partitioner. */
	@Configuration(proxyBeanMethods = false)
	@ConditionalOnProperty(name = "peer.mode", havingValue = "keys-send")
	static class KeysSend {

		@Bean
		ApplicationRunner keysSendRunner(ConfigurableApplicationContext ctx, KafkaTemplate<String, byte[]> template,
				Events events, @Value("${peer.topic}") String topic, @Value("${peer.input:}") String input) {
			return runner(ctx, template, events, topic, send -> {
				for (String key : lines(input)) {
					send.send(new Out(key, key.getBytes(StandardCharsets.UTF_8)));
				}
			});
		}

	}

}
