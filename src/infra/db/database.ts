// The typed database: every table Parley owns, composed from the domain modules' table types.
// Each domain declares its own tables (modules/<domain>/<domain>.tables.ts) and is added here once.
import type { WorkspaceTables } from '../../modules/workspaces/workspaces.tables';
import type { IdempotencyTables } from '../http/idempotency.tables';
import type { AudienceTables } from '../../modules/audiences/audiences.tables';
import type { ConsentTables } from '../../modules/consent/consent.tables';
import type { MessageTables } from '../../modules/messages/messages.tables';
import type { ReceiptTables } from '../../modules/receipts/receipts.tables';
import type { CampaignTables } from '../../modules/campaigns/campaigns.tables';
import type { ReplyTables } from '../../modules/replies/replies.tables';
import type { DispatchTables } from '../../modules/dispatch/dispatch.tables';

export interface Database
  extends
    WorkspaceTables,
    IdempotencyTables,
    AudienceTables,
    ConsentTables,
    MessageTables,
    ReceiptTables,
    CampaignTables,
    ReplyTables,
    DispatchTables {}
