package dev.brook.peer;

import java.io.IOException;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;

import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.context.annotation.Bean;
import org.springframework.kafka.annotation.KafkaListener;
import org.springframework.kafka.core.KafkaTemplate;
import org.springframework.kafka.listener.CommonErrorHandler;
import org.springframework.kafka.listener.DeadLetterPublishingRecoverer;
import org.springframework.kafka.listener.DefaultErrorHandler;
import org.springframework.util.backoff.ExponentialBackOff;

/**
 * {@code shipping}: the sample shop's shipping service written as a Spring service. Each
 * paid order is shipped: {@code shop.OrderShipped} is sent (and acknowledged) before the
 * listener returns, so an offset is never committed before its output is written.
 */
@org.springframework.stereotype.Component
@ConditionalOnProperty(name = "peer.mode", havingValue = "shipping")
class ShippingMode {

	static final String PAYMENTS = "shop.payments.completed";

	static final String SHIPPED = "shop.orders.shipped";

	static final String PAYMENT_COMPLETED = "shop.PaymentCompleted";

	static final String ORDER_SHIPPED = "shop.OrderShipped";

	private final Events events;

	private final Avro avro;

	private final KafkaTemplate<String, byte[]> template;

	private final Schema shippedSchema;

	ShippingMode(Events events, Avro avro, KafkaTemplate<String, byte[]> template) {
		this.events = events;
		this.avro = avro;
		this.template = template;
		avro.schema(PAYMENT_COMPLETED); // both must be among --peer.schemas
		this.shippedSchema = avro.schema(ORDER_SHIPPED);
	}

	@Bean
	static NewTopic paymentsCompletedTopic() {
		return ListenerModes.topic(PAYMENTS, 4);
	}

	@Bean
	static NewTopic ordersShippedTopic() {
		return ListenerModes.topic(SHIPPED, 4);
	}

	@Bean
	static NewTopic paymentsCompletedDlt() {
		return ListenerModes.topic(PAYMENTS + "-dlt", 4);
	}

	/**
	 * A record that does not decode goes at once to {@code shop.payments.completed-dlt}
	 * (the recoverer's default destination: topic + "-dlt", same partition); anything else
	 * (a send that failed) is retried in place.
	 */
	@Bean
	static CommonErrorHandler shippingErrorHandler(KafkaTemplate<String, byte[]> template) {
		ExponentialBackOff backOff = new ExponentialBackOff(100L, 2.0);
		backOff.setMaxInterval(2000L);
		DefaultErrorHandler handler = new DefaultErrorHandler(new DeadLetterPublishingRecoverer(template), backOff);
		handler.addNotRetryableExceptions(UndecodableRecordException.class);
		return handler;
	}

	@KafkaListener(id = "shipping-service.ship", topics = PAYMENTS, groupId = "shipping-service.ship")
	void ship(ConsumerRecord<String, byte[]> rec) throws Exception {
		String orderId = rec.key();
		GenericRecord paid = paymentOf(rec);
		GenericRecord shipped = new GenericData.Record(this.shippedSchema);
		shipped.put("order_id", orderId);
		shipped.put("tracking", "TRK-" + orderId);
		shipped.put("placed_at", paid.get("placed_at"));
		this.template.send(SHIPPED, orderId, this.avro.encodeSingleObject(this.shippedSchema, shipped)).get();
		ObjectNode ev = this.events.event("shipped");
		ev.put("key", orderId);
		this.events.emit(ev);
	}

	private GenericRecord paymentOf(ConsumerRecord<String, byte[]> rec) {
		if (rec.key() == null) {
			throw new UndecodableRecordException("record without an order id (null key)", null);
		}
		try {
			Avro.Decoded d = this.avro.decodeSingleObject(rec.value());
			if (!d.schema().getFullName().equals(PAYMENT_COMPLETED)) {
				throw new IOException("a " + d.schema().getFullName() + ", not a " + PAYMENT_COMPLETED);
			}
			return (GenericRecord) d.value();
		}
		catch (IOException | RuntimeException ex) {
			throw new UndecodableRecordException("undecodable " + PAYMENT_COMPLETED + ": " + ex.getMessage(), ex);
		}
	}

	/** A payment that cannot be decoded: dead-lettered without retries. */
	static final class UndecodableRecordException extends RuntimeException {

		UndecodableRecordException(String message, Throwable cause) {
			super(message, cause);
		}

	}

}
