// Row types of the receipts module's tables (migrations/20261126T1738-receipts.ts).
import type { ColumnType, Generated } from 'kysely';

type Timestamp = ColumnType<Date, Date | string, Date | string>;

export interface ParkedReceiptsTable {
  id: Generated<number>;
  workspace_id: string | null;
  connector_id: string;
  carrier_message_id: string;
  receipt_key: string;
  envelope: ColumnType<unknown, string, string>;
  parked_at: Generated<Date>;
  attempts: Generated<number>;
  next_attempt_at: ColumnType<Date, Date | string | undefined, Date | string>;
  matched_at: Timestamp | null;
}

export interface UnappliedReceiptsTable {
  id: Generated<number>;
  workspace_id: string | null;
  message_id: string | null;
  connector_id: string | null;
  carrier_message_id: string | null;
  reason: string;
  /** The receipt's source address (the handset), when it gave one. */
  recipient: string | null;
  stat: string | null;
  raw: string;
  received_at: Timestamp;
  created_at: Generated<Date>;
}

export interface WebhookSecretsTable {
  id: Generated<number>;
  workspace_id: string;
  secret: string;
  created_at: Generated<Date>;
  expires_at: Timestamp | null;
}

export type CallbackState = 'pending' | 'delivered' | 'abandoned' | 'refused';

export interface StatusCallbacksTable {
  id: Generated<number>;
  workspace_id: string;
  message_id: string;
  event_key: string;
  url: string;
  body: string;
  state: ColumnType<CallbackState, CallbackState | undefined, CallbackState>;
  attempts: Generated<number>;
  last_error: string | null;
  last_status_code: number | null;
  locked_until: Timestamp | null;
  created_at: Generated<Date>;
  finished_at: Timestamp | null;
}

export interface ReceiptTables {
  parked_receipts: ParkedReceiptsTable;
  unapplied_receipts: UnappliedReceiptsTable;
  webhook_secrets: WebhookSecretsTable;
  status_callbacks: StatusCallbacksTable;
}
