package dev.brook.peer;

import java.io.IOException;
import java.util.Collection;
import java.util.Set;

import org.apache.commons.logging.Log;
import org.apache.commons.logging.LogFactory;

import org.springframework.beans.factory.annotation.Value;
import org.springframework.boot.context.event.ApplicationReadyEvent;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.event.EventListener;
import org.springframework.kafka.config.KafkaListenerEndpointRegistry;
import org.springframework.kafka.listener.MessageListenerContainer;

/** Beans every mode shares: the events file, the schemas, and the ready signal of listener modes. */
@Configuration(proxyBeanMethods = false)
public class PeerConfig {

	private static final Log LOG = LogFactory.getLog(PeerConfig.class);

	static final Set<String> LISTENER_MODES = Set.of("avro-check", "dlt-read", "retryable", "shipping", "replier");

	@Bean
	Events events(@Value("${peer.events:}") String path) {
		return Events.open(path);
	}

	@Bean
	Avro avro(@Value("${peer.schemas:}") String schemas, @Value("${peer.confluent-ids:}") String ids)
			throws IOException {
		return new Avro(schemas, ids);
	}

	/**
	 * Listener modes are ready once every listener container of the mode (retry-topic and
	 * DLT containers included) runs and has partitions assigned.
	 */
	@Bean
	ReadyWatcher readyWatcher(@Value("${peer.mode:}") String mode, KafkaListenerEndpointRegistry registry,
			Events events) {
		return new ReadyWatcher(LISTENER_MODES.contains(mode), registry, events);
	}

	static final class ReadyWatcher {

		private final boolean enabled;

		private final KafkaListenerEndpointRegistry registry;

		private final Events events;

		ReadyWatcher(boolean enabled, KafkaListenerEndpointRegistry registry, Events events) {
			this.enabled = enabled;
			this.registry = registry;
			this.events = events;
		}

		@EventListener(ApplicationReadyEvent.class)
		void started() {
			if (!this.enabled) {
				return;
			}
			Thread t = new Thread(this::watch, "peer-ready-watcher");
			t.setDaemon(true);
			t.start();
		}

		private void watch() {
			long start = System.nanoTime();
			while (true) {
				Collection<MessageListenerContainer> containers;
				try {
					containers = this.registry.getAllListenerContainers();
				}
				catch (IllegalStateException ex) { // the context is closing
					return;
				}
				boolean all = !containers.isEmpty();
				for (MessageListenerContainer c : containers) {
					Collection<?> assigned = c.isRunning() ? c.getAssignedPartitions() : null;
					if (assigned == null || assigned.isEmpty()) {
						all = false;
						break;
					}
				}
				if (all) {
					LOG.info("all " + containers.size() + " listener containers assigned after "
							+ (System.nanoTime() - start) / 1_000_000 + " ms");
					this.events.ready();
					return;
				}
				try {
					Thread.sleep(20);
				}
				catch (InterruptedException ex) {
					Thread.currentThread().interrupt();
					return;
				}
			}
		}

	}

}
