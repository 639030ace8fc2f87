package dev.brook.peer;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.lang.reflect.Field;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.json.JsonWriteFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.DoubleNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.avro.Schema;
import org.apache.avro.SchemaNormalization;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.io.JsonDecoder;
import org.apache.avro.io.JsonEncoder;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.message.BinaryMessageEncoder;

/**
 * The Avro side of the peer: the schemas of {@code --peer.schemas}, the two framings
 * (single-object and confluent) and the Avro JSON encoding.
 */
public final class Avro {

	public static final String SINGLE_OBJECT = "single-object";

	public static final String CONFLUENT = "confluent";

	/**
	 * Jackson for Avro JSON text. Numbers stay doubles, longs or big integers (a double
	 * round-trips exactly through its shortest text, -0.0 included, which BigDecimal would
	 * lose); NaN/Infinity are written bare, for the decoder.
	 */
	static final ObjectMapper JSON = JsonMapper.builder()
		.disable(JsonWriteFeature.WRITE_NAN_AS_STRINGS)
		.build();

	static {
		allowNonNumericNumbersInAvroJsonDecoder();
	}

	private final Map<String, Schema> byName = new LinkedHashMap<>();

	private final Map<Long, Schema> byFingerprint = new HashMap<>();

	private final Map<Integer, Schema> byId = new HashMap<>();

	private final Map<Schema, BinaryMessageEncoder<Object>> encoders = new IdentityHashMap<>();

	private final Map<Schema, BinaryMessageDecoder<Object>> decoders = new IdentityHashMap<>();

	/**
	 * @param schemaFiles comma-separated Avro schema files, each a self-contained schema
	 * @param confluentIds comma-separated {@code ID:full.Name}
	 */
	public Avro(String schemaFiles, String confluentIds) throws IOException {
		List<Schema> tops = new ArrayList<>();
		for (String file : split(schemaFiles)) {
			Schema schema = new Schema.Parser().parse(new File(file));
			tops.add(schema);
			index(schema, true);
		}
		for (Schema top : tops) {
			for (Schema named : namedTypes(top)) {
				this.byName.putIfAbsent(named.getFullName(), named);
				this.byFingerprint.putIfAbsent(SchemaNormalization.parsingFingerprint64(named), named);
			}
		}
		for (String pair : split(confluentIds)) {
			int colon = pair.indexOf(':');
			if (colon <= 0) {
				throw new IllegalArgumentException("bad --peer.confluent-ids entry '" + pair + "' (want ID:full.Name)");
			}
			int id = Integer.parseInt(pair.substring(0, colon).trim());
			this.byId.put(id, schema(pair.substring(colon + 1).trim()));
		}
	}

	private void index(Schema schema, boolean top) {
		if (top) {
			this.byName.put(schema.getFullName(), schema);
			this.byFingerprint.put(SchemaNormalization.parsingFingerprint64(schema), schema);
		}
	}

	private static List<String> split(String list) {
		List<String> out = new ArrayList<>();
		if (list != null) {
			for (String part : list.split(",")) {
				if (!part.isBlank()) {
					out.add(part.trim());
				}
			}
		}
		return out;
	}

	/** Every named type reachable from {@code root}, the root first. */
	private static List<Schema> namedTypes(Schema root) {
		List<Schema> out = new ArrayList<>();
		collect(root, out, new IdentityHashMap<>());
		return out;
	}

	private static void collect(Schema s, List<Schema> out, IdentityHashMap<Schema, Boolean> seen) {
		if (seen.put(s, Boolean.TRUE) != null) {
			return;
		}
		switch (s.getType()) {
			case RECORD -> {
				out.add(s);
				s.getFields().forEach(f -> collect(f.schema(), out, seen));
			}
			case ENUM, FIXED -> out.add(s);
			case ARRAY -> collect(s.getElementType(), out, seen);
			case MAP -> collect(s.getValueType(), out, seen);
			case UNION -> s.getTypes().forEach(t -> collect(t, out, seen));
			default -> {
			}
		}
	}

	public Schema schema(String fullName) {
		Schema s = this.byName.get(fullName);
		if (s == null) {
			throw new IllegalArgumentException("unknown Avro type '" + fullName + "' (known: " + this.byName.keySet() + ")");
		}
		return s;
	}

	public boolean hasSchemas() {
		return !this.byName.isEmpty();
	}

	/** A value decoded from one of the two framings. */
	public record Decoded(String framing, Schema schema, Object value) {
	}

	/** Decodes either framing, telling them apart by the first byte; any problem throws. */
	public Decoded decode(byte[] bytes) throws IOException {
		if (bytes == null) {
			throw new IOException("null value");
		}
		if (bytes.length >= 2 && (bytes[0] & 0xff) == 0xC3 && bytes[1] == 0x01) {
			return decodeSingleObject(bytes);
		}
		if (bytes.length >= 1 && bytes[0] == 0x00) {
			return decodeConfluent(bytes);
		}
		throw new IOException("unknown framing: " + bytes.length + " bytes"
				+ (bytes.length > 0 ? String.format(", first byte 0x%02x", bytes[0] & 0xff) : ""));
	}

	/** Decodes a single-object encoded value with Avro's {@link BinaryMessageDecoder}. */
	public Decoded decodeSingleObject(byte[] bytes) throws IOException {
		if (bytes == null || bytes.length < 10 || (bytes[0] & 0xff) != 0xC3 || bytes[1] != 0x01) {
			throw new IOException("not Avro single-object encoding");
		}
		long fingerprint = ByteBuffer.wrap(bytes, 2, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
		Schema schema = this.byFingerprint.get(fingerprint);
		if (schema == null) {
			throw new IOException(String.format("no schema with fingerprint %016x among --peer.schemas", fingerprint));
		}
		BinaryMessageDecoder<Object> decoder;
		synchronized (this.decoders) {
			decoder = this.decoders.computeIfAbsent(schema,
					s -> new BinaryMessageDecoder<>(GenericData.get(), s));
		}
		Object value = decoder.decode(bytes);
		checkEnd(schema, bytes, 10);
		return new Decoded(SINGLE_OBJECT, schema, value);
	}

	private Decoded decodeConfluent(byte[] bytes) throws IOException {
		if (bytes.length < 5) {
			throw new IOException("confluent framing shorter than 5 bytes");
		}
		int id = ByteBuffer.wrap(bytes, 1, 4).getInt();
		Schema schema = this.byId.get(id);
		if (schema == null) {
			throw new IOException("no schema for confluent id " + id + " (see --peer.confluent-ids)");
		}
		BinaryDecoder in = DecoderFactory.get().binaryDecoder(bytes, 5, bytes.length - 5, null);
		Object value = new GenericDatumReader<>(schema).read(null, in);
		if (!in.isEnd()) {
			throw new IOException("trailing bytes after the Avro value");
		}
		return new Decoded(CONFLUENT, schema, value);
	}

	/** Avro's message decoder ignores trailing bytes: Brook's tests want them seen. */
	private static void checkEnd(Schema schema, byte[] bytes, int offset) throws IOException {
		BinaryDecoder in = DecoderFactory.get().binaryDecoder(bytes, offset, bytes.length - offset, null);
		new GenericDatumReader<>(schema).read(null, in);
		if (!in.isEnd()) {
			throw new IOException("trailing bytes after the Avro value");
		}
	}

	/** Single-object encoding with Avro's {@link BinaryMessageEncoder}. */
	public byte[] encodeSingleObject(Schema schema, Object datum) throws IOException {
		BinaryMessageEncoder<Object> encoder;
		synchronized (this.encoders) {
			encoder = this.encoders.computeIfAbsent(schema, s -> new BinaryMessageEncoder<>(GenericData.get(), s));
		}
		ByteBuffer buf = encoder.encode(datum);
		byte[] out = new byte[buf.remaining()];
		buf.get(out);
		return out;
	}

	/** Confluent framing: 00, 4-byte big-endian schema id, Avro binary. */
	public byte[] encodeConfluent(Schema schema, int id, Object datum) throws IOException {
		ByteArrayOutputStream out = new ByteArrayOutputStream();
		out.write(0);
		out.write(ByteBuffer.allocate(4).putInt(id).array());
		BinaryEncoder enc = EncoderFactory.get().directBinaryEncoder(out, null);
		new GenericDatumWriter<>(schema).write(datum, enc);
		enc.flush();
		return out.toByteArray();
	}

	/** Reads Avro JSON text with Avro's JsonDecoder. */
	public Object fromJson(Schema schema, String json) throws IOException {
		return fromJson(schema, JSON.readTree(json));
	}

	/**
	 * Reads Avro JSON (as a tree) with Avro's JsonDecoder. Avro 1.12's decoder takes
	 * neither the strings "NaN"/"Infinity"/"-Infinity" that its encoder writes for a
	 * float or double nor bare NaN; so those strings are turned into bare tokens (where
	 * the schema says float or double) and the decoder's parser is allowed to read them.
	 */
	public Object fromJson(Schema schema, JsonNode tree) throws IOException {
		JsonNode fixed = bareNonFinite(schema, tree);
		byte[] text = JSON.writeValueAsBytes(fixed);
		JsonDecoder in = DecoderFactory.get().jsonDecoder(schema, new ByteArrayInputStream(text));
		return new GenericDatumReader<>(schema).read(null, in);
	}

	/** Writes {@code datum} as Avro JSON text with Avro's JsonEncoder. */
	public static String toJsonText(Schema schema, Object datum) throws IOException {
		ByteArrayOutputStream out = new ByteArrayOutputStream();
		JsonEncoder enc = EncoderFactory.get().jsonEncoder(schema, out);
		new GenericDatumWriter<>(schema).write(datum, enc);
		enc.flush();
		return out.toString(StandardCharsets.UTF_8);
	}

	/** Avro JSON of {@code datum} as a Jackson tree, to embed in an event. */
	public static JsonNode toJson(Schema schema, Object datum) throws IOException {
		return JSON.readTree(toJsonText(schema, datum));
	}

	private static JsonNode bareNonFinite(Schema s, JsonNode node) {
		if (node == null) {
			return null;
		}
		switch (s.getType()) {
			case FLOAT, DOUBLE -> {
				if (node.isTextual()) {
					switch (node.textValue()) {
						case "NaN":
							return DoubleNode.valueOf(Double.NaN);
						case "Infinity":
							return DoubleNode.valueOf(Double.POSITIVE_INFINITY);
						case "-Infinity":
							return DoubleNode.valueOf(Double.NEGATIVE_INFINITY);
						default:
							return node;
					}
				}
				return node;
			}
			case RECORD -> {
				if (node instanceof ObjectNode obj) {
					for (Schema.Field f : s.getFields()) {
						JsonNode v = obj.get(f.name());
						if (v != null) {
							obj.set(f.name(), bareNonFinite(f.schema(), v));
						}
					}
				}
				return node;
			}
			case ARRAY -> {
				if (node instanceof ArrayNode arr) {
					for (int i = 0; i < arr.size(); i++) {
						arr.set(i, bareNonFinite(s.getElementType(), arr.get(i)));
					}
				}
				return node;
			}
			case MAP -> {
				if (node instanceof ObjectNode obj) {
					for (Iterator<String> it = obj.fieldNames(); it.hasNext();) {
						String k = it.next();
						obj.set(k, bareNonFinite(s.getValueType(), obj.get(k)));
					}
				}
				return node;
			}
			case UNION -> {
				if (node instanceof ObjectNode obj && obj.size() == 1) {
					String branch = obj.fieldNames().next();
					for (Schema t : s.getTypes()) {
						if (branchName(t).equals(branch)) {
							obj.set(branch, bareNonFinite(t, obj.get(branch)));
						}
					}
				}
				return node;
			}
			default -> {
				return node;
			}
		}
	}

	private static String branchName(Schema t) {
		return switch (t.getType()) {
			case RECORD, ENUM, FIXED -> t.getFullName();
			default -> t.getType().getName();
		};
	}

	@SuppressWarnings("deprecation") // the factory exists already: only the mutable feature works
	private static void allowNonNumericNumbersInAvroJsonDecoder() {
		try {
			Field f = JsonDecoder.class.getDeclaredField("JSON_FACTORY");
			f.setAccessible(true);
			((JsonFactory) f.get(null)).enable(JsonParser.Feature.ALLOW_NON_NUMERIC_NUMBERS);
		}
		catch (ReflectiveOperationException | RuntimeException ex) {
			throw new IllegalStateException("cannot configure Avro's JsonDecoder for NaN/Infinity", ex);
		}
	}

	/** Field-by-field equality as {@code GenericData.compare} sees it (maps included). */
	static final class Comparer extends GenericData {

		static final Comparer INSTANCE = new Comparer();

		boolean same(Object expected, Object actual, Schema schema) {
			return compare(expected, actual, schema, true) == 0;
		}

	}

}
