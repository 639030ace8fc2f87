package dev.brook.peer;

import java.util.Set;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;

import sun.misc.Signal;

/**
 * Brook's Spring Boot peer for the interoperability tests. The behaviour is chosen by
 * {@code --peer.mode=MODE}; only the beans of that mode exist.
 */
@SpringBootApplication
public class PeerApplication {

	static final Set<String> MODES = Set.of("avro-check", "avro-send", "dlt-read", "retryable", "keys-send",
			"shipping", "replier", "requester");

	public static void main(String[] args) {
		// SIGTERM (and SIGINT): graceful shutdown through Spring's shutdown hook, exit status 0.
		for (String name : new String[] { "TERM", "INT" }) {
			Signal.handle(new Signal(name), sig -> {
				Thread t = new Thread(() -> System.exit(0), "peer-signal-exit");
				t.setDaemon(false);
				t.start();
			});
		}
		String mode = argValue(args, "peer.mode");
		if (mode == null || !MODES.contains(mode)) {
			Events.fallback(args).error("unknown or missing --peer.mode: " + mode + " (one of " + MODES + ")");
			System.exit(2);
		}
		try {
			SpringApplication app = new SpringApplication(PeerApplication.class);
			app.run(args);
		}
		catch (Throwable ex) {
			Events.fallback(args).error("start-up failed: " + Events.describe(ex));
			System.exit(1);
		}
	}

	static String argValue(String[] args, String name) {
		String prefix = "--" + name + "=";
		String value = null;
		for (String arg : args) {
			if (arg.startsWith(prefix)) {
				value = arg.substring(prefix.length());
			}
		}
		return value;
	}

}
