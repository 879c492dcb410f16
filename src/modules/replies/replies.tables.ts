// Row types of migrations/20261126T1747-replies.ts and 20261126T2050-inbound-follow-ups.ts.
import type { ColumnType, Generated } from 'kysely';

type Json<T> = ColumnType<T, string | undefined, string>;
type Timestamp = ColumnType<Date, Date | string, Date | string>;

export interface InboundMessagesTable {
  id: string;
  workspace_id: string | null;
  connector_id: string;
  from_e164: string;
  to_sender: string;
  body: string;
  body_raw: string | null;
  carrier_message_id: string | null;
  received_at: Timestamp;
  intent: string;
  keyword: string | null;
  language: string;
  confidence: number;
  matched_message_id: string | null;
  campaign_id: string | null;
  actions: Json<unknown[]>;
  /** What is left to carry out after the commit (null once done); see reply-router.consumer.ts. */
  follow_ups: ColumnType<unknown, string | null | undefined, string | null>;
  created_at: Generated<Date>;
}

export interface InboxItemsTable {
  id: Generated<string>;
  workspace_id: string;
  inbound_id: string;
  customer: string;
  sender: string;
  campaign_id: string | null;
  message_id: string | null;
  intent: string;
  body: string;
  context: Json<Record<string, unknown>>;
  status: Generated<string>;
  created_at: Generated<Date>;
  closed_at: Timestamp | null;
}

export interface ReplyTables {
  inbound_messages: InboundMessagesTable;
  inbox_items: InboxItemsTable;
}
