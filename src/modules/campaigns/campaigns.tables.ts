// Row types of migrations/20261126T1746-campaigns.ts.
import type { ColumnType, Generated } from 'kysely';

type Json<T> = ColumnType<T, string | undefined, string>;
type Timestamp = ColumnType<Date, Date | string, Date | string>;

export interface CampaignsTable {
  id: Generated<string>;
  workspace_id: string;
  name: string;
  audience_id: string;
  segment_id: string | null;
  from_address: string;
  body: string;
  type: 'marketing' | 'transactional';
  status: Generated<string>;
  schedule_at: Timestamp | null;
  quiet_hours: ColumnType<{ start: string; end: string } | null, string | null | undefined, string | null>;
  validity_seconds: number | null;
  max_segments_per_second: number | null;
  weight: Generated<number>;
  reply_handlers: Json<unknown[]>;
  status_callback: string | null;
  plan: Json<Record<string, unknown>>;
  recipients: Generated<number>;
  excluded: Generated<number>;
  expanded: Generated<number>;
  checkpoint: string | null;
  created_at: Generated<Date>;
  launched_at: Timestamp | null;
  expanded_at: Timestamp | null;
  paused_at: Timestamp | null;
  canceled_at: Timestamp | null;
  completed_at: Timestamp | null;
}

export interface CampaignResponsesTable {
  workspace_id: string;
  campaign_id: string;
  message_id: string;
  e164: string;
  kind: 'confirmed' | 'declined';
  inbound_id: string;
  at: Generated<Date>;
}

export interface CampaignTables {
  campaigns: CampaignsTable;
  campaign_responses: CampaignResponsesTable;
}
