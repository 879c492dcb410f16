// The one way what carriers send us enters Kafka, whichever connector heard it (an SMPP bind, a
// provider's webhook): a customer's message becomes its envelope on sms.inbound, keyed by the
// customer's number; a delivery receipt goes to sms.receipts as received, keyed by the recipient.
// The router and the receipts consumer never know which kind of connector spoke. Each promise
// resolves once Kafka has the record, so a connector acknowledges to the carrier only then.
import type { KafkaService } from '../../infra/kafka/kafka.service';
import type { RawInbound, RawReceipt } from './connector';
import { inboundEnvelopeOf } from './inbound-envelope';

export function publishInbound(kafka: KafkaService, m: RawInbound): Promise<void> {
  const value = inboundEnvelopeOf(m);
  return kafka.produce('sms.inbound', [{ key: value.from, value: JSON.stringify(value) }]);
}

export function publishReceipt(kafka: KafkaService, r: RawReceipt): Promise<void> {
  return kafka.produce('sms.receipts', [
    { key: r.recipient || r.carrierMessageId, value: JSON.stringify(r) },
  ]);
}
