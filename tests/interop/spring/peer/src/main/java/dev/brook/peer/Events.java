package dev.brook.peer;

import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * The events file: one complete JSON object per line, flushed after each line, one
 * writer for the whole process. Without {@code --peer.events} the lines go to stdout.
 */
public final class Events {

	private static final Map<String, Events> OPEN = new HashMap<>();

	private static final ObjectMapper MAPPER = new ObjectMapper();

	private final OutputStream out;

	private Events(OutputStream out) {
		this.out = out;
	}

	/** The one writer for {@code path} (empty or null: stdout). */
	public static synchronized Events open(String path) {
		String key = path == null ? "" : path;
		return OPEN.computeIfAbsent(key, p -> {
			try {
				return new Events(p.isEmpty() ? System.out : new FileOutputStream(p, true));
			}
			catch (IOException ex) {
				throw new IllegalStateException("cannot open events file " + p + ": " + ex.getMessage(), ex);
			}
		});
	}

	/** The writer named by {@code --peer.events} in raw command-line arguments. */
	static Events fallback(String[] args) {
		try {
			return open(PeerApplication.argValue(args, "peer.events"));
		}
		catch (RuntimeException ex) {
			return open(null);
		}
	}

	public ObjectNode event(String name) {
		ObjectNode node = MAPPER.createObjectNode();
		node.put("event", name);
		return node;
	}

	public void emit(ObjectNode node) {
		byte[] line;
		try {
			line = (MAPPER.writeValueAsString(node) + "\n").getBytes(StandardCharsets.UTF_8);
		}
		catch (IOException ex) {
			throw new IllegalStateException(ex);
		}
		synchronized (Events.class) {
			try {
				this.out.write(line);
				this.out.flush();
			}
			catch (IOException ex) {
				throw new IllegalStateException("cannot write events: " + ex.getMessage(), ex);
			}
		}
	}

	public void ready() {
		emit(event("ready"));
	}

	public void error(String message) {
		ObjectNode node = event("error");
		node.put("message", message);
		emit(node);
	}

	public static String describe(Throwable ex) {
		StringBuilder sb = new StringBuilder();
		Throwable t = ex;
		while (t != null && sb.length() < 2000) {
			if (sb.length() > 0) {
				sb.append("; caused by ");
			}
			sb.append(t.getClass().getName());
			if (t.getMessage() != null) {
				sb.append(": ").append(t.getMessage());
			}
			t = t.getCause() == t ? null : t.getCause();
		}
		return sb.toString();
	}

	static String stackTrace(Throwable ex) {
		StringWriter sw = new StringWriter();
		ex.printStackTrace(new PrintWriter(sw, true));
		return sw.toString();
	}

}
