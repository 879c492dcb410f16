import type { ColumnType, Generated } from 'kysely';

export interface WorkspacesTable {
  id: Generated<string>;
  name: string;
  settings: ColumnType<Record<string, unknown>, string | undefined, string>;
  created_at: Generated<Date>;
}

export interface ApiKeysTable {
  id: Generated<string>;
  workspace_id: string;
  key_hash: string;
  prefix: string;
  name: string | null;
  created_at: Generated<Date>;
  expires_at: Date | null;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

export interface WorkspaceTables {
  workspaces: WorkspacesTable;
  api_keys: ApiKeysTable;
}
