// The contract every carrier connector fulfils (SMPP ESME, Twilio-style HTTP provider). The
// dispatcher only ever sees this; the simulator implements the far side of the same protocols.
import type { ReceiptIdFormat } from './receipt-id';

export type Encoding = 'GSM-7' | 'UCS-2';

export interface SubmitRequest {
  /** Parley's message id (a UUID); echoed back in receipts' mapping, never sent twice. */
  messageId: string;
  /** Sender address: E.164 long code / toll-free, or short-code digits. */
  from: string;
  senderKind: 'short_code' | 'long_code' | 'toll_free';
  /** Recipient, E.164. */
  to: string;
  body: string;
  encoding: Encoding;
  /** The body split into parts by the encoder (one entry per segment, in order). */
  parts: string[];
  /** Carrier-side validity; the carrier expires the message after it. */
  validUntil?: Date;
}

export type SubmitOutcome =
  /** The carrier took it; one carrier id per part, in part order. */
  | { kind: 'accepted'; carrierMessageIds: string[] }
  /** A definite non-acceptance that may be retried: throttled, queue full. */
  | { kind: 'retry'; code: string; reason: string; backoffMs?: number }
  /** A permanent refusal: the message fails with this code. */
  | { kind: 'failed'; code: string; reason: string }
  /** No definite answer (timeout, connection lost after sending): reconcile, never resend blindly. */
  | { kind: 'unknown'; reason: string };

/** A delivery receipt as the connector got it, before parsing into a status. */
export interface RawReceipt {
  connectorId: string;
  /** The carrier's message id the receipt is about (from TLV or text). */
  carrierMessageId: string;
  /** Recipient of the original message (the receipt's source address), E.164 when known. */
  recipient?: string;
  /** Sender of the original message (the receipt's destination address), when given. */
  sender?: string;
  /** The receipt text (`id:… sub:… dlvrd:… submit date:… done date:… stat:… err:… text:…`) or provider status. */
  raw: string;
  /** SMPP message_state TLV or provider status word, when present (wins over the text). */
  messageState?: number | string;
  receivedAt: number;
  /**
   * Our message id, where the protocol carried it back (a provider's status callback URL names
   * it): ties a receipt to its message when the carrier id was never stored (a crash).
   */
  parleyMessageId?: string;
}

/** A customer's message to one of our senders (SMPP deliver_sm MO, provider webhook). */
export interface RawInbound {
  connectorId: string;
  /** Customer number, E.164. */
  from: string;
  /** Our sender address it was sent to. */
  to: string;
  body: string;
  carrierMessageId?: string;
  receivedAt: number;
}

export interface ConnectorState {
  id: string;
  kind: 'smpp' | 'twilio';
  /** Binds (SMPP) or HTTP client slots that are up / configured. */
  bindsUp: number;
  bindsConfigured: number;
  /** Submits awaiting a response now, and the window size. */
  inFlight: number;
  window: number;
  /** True while the carrier is answering throttled / queue full and the connector backs off. */
  throttled: boolean;
}

export interface Connector {
  readonly id: string;
  readonly kind: 'smpp' | 'twilio';
  /** How its receipts name a message against its submit answers (receipt-id.ts). */
  readonly receiptIdFormat: ReceiptIdFormat;
  start(): Promise<void>;
  stop(): Promise<void>;
  submit(req: SubmitRequest): Promise<SubmitOutcome>;
  /** Receipts and inbound messages are handed to these as they arrive. */
  /** The handler's promise, when it returns one, settles before the carrier is acknowledged. */
  onReceipt(handler: (r: RawReceipt) => void | Promise<void>): void;
  onInbound(handler: (m: RawInbound) => void | Promise<void>): void;
  state(): ConnectorState;
  /**
   * Epoch ms until which a submit handed over now would wait inside the connector (every usable
   * bind backing off after the carrier throttled it); 0 when it would leave at once. A caller that
   * paces its submits holds them itself until then: held inside, they would all leave together
   * when the pause ends. Asked before every submit, so it is cheap.
   */
  pausedUntil(): number;
}
