// Row types of the message store (migrations/20261126T1737-messages.ts).
import type { ColumnType, Generated } from 'kysely';

type Timestamp = ColumnType<Date, Date | string, Date | string>;
type Json<T> = ColumnType<T, string | undefined, string>;

export interface MessagesTable {
  id: string;
  workspace_id: string;
  campaign_id: string | null;
  type: 'transactional' | 'marketing';
  to_e164: string;
  sender: string;
  carrier_id: string | null;
  connector_id: string | null;
  body: string;
  encoding: string;
  segments: number;
  status: Generated<string>;
  error_code: string | null;
  error_detail: string | null;
  metadata: Json<Record<string, unknown>>;
  status_callback: string | null;
  valid_until: Timestamp | null;
  accepted_at: ColumnType<Date, Date | string | undefined, Date | string>;
  queued_at: Timestamp | null;
  submitted_at: Timestamp | null;
  final_at: Timestamp | null;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
  auto_reply: Generated<boolean>;
  /** When the carrier's receipt (or provider) first said it was on its way. */
  sent_at: Timestamp | null;
  /** Set by the fence that let it go to its connector; cleared once the answer is stored. */
  submitting_at: Timestamp | null;
  /** What decided its final status (the receipt, the refusal), shown with it. */
  outcome: Json<Record<string, unknown>> | null;
}

export interface MessagePartsTable {
  workspace_id: string;
  message_id: string;
  part_index: number;
  carrier_message_id: string;
  /** The id in the form its connector's receipts are looked up by (carriers/receipt-id.ts). */
  receipt_key: string;
  connector_id: string;
  status: Generated<string>;
  error_code: string | null;
  submitted_at: Timestamp;
  done_at: Timestamp | null;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface MessageEventsTable {
  id: Generated<number>;
  workspace_id: string;
  message_id: string;
  status: string;
  at: Timestamp;
  detail: Json<Record<string, unknown>>;
}

export interface MessageTables {
  messages: MessagesTable;
  message_parts: MessagePartsTable;
  message_events: MessageEventsTable;
}
