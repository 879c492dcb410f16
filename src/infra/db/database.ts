// The typed database: every table Parley owns, composed from the domain modules' table types.
// Each domain declares its own tables (modules/<domain>/<domain>.tables.ts) and is added here once.
import type { WorkspaceTables } from '../../modules/workspaces/workspaces.tables';
import type { IdempotencyTables } from '../http/idempotency.tables';

export interface Database extends WorkspaceTables, IdempotencyTables {}
