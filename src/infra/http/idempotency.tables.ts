import type { ColumnType, Generated } from 'kysely';

export interface IdempotencyKeysTable {
  workspace_id: string;
  key: string;
  route: string;
  request_hash: string;
  status_code: number | null;
  response: ColumnType<unknown, string | null, string | null>;
  created_at: Generated<Date>;
}

export interface IdempotencyTables {
  idempotency_keys: IdempotencyKeysTable;
}
