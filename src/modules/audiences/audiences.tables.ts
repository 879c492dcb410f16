import type { ColumnType, Generated } from 'kysely';

/**
 * A contact's own text columns in table order: what an import stages, a segment filters on and a
 * recipient carries. Every list of contact columns is built from this one.
 */
export const CONTACT_TEXT_COLUMNS = [
  'e164',
  'country',
  'line_type',
  'first_name',
  'last_name',
  'email',
  'timezone',
] as const;
export type ContactTextColumn = (typeof CONTACT_TEXT_COLUMNS)[number];

/** What a contact's row says about it besides its number (the text columns but e164). */
export type ContactDetails = Record<Exclude<ContactTextColumn, 'e164'>, string | null>;

export type ImportStatus = 'queued' | 'running' | 'completed' | 'failed';

export interface AudiencesTable {
  id: Generated<string>;
  workspace_id: string;
  name: string;
  created_at: Generated<Date>;
}

export interface ContactsTable extends ContactDetails {
  id: Generated<number>;
  workspace_id: string;
  e164: string;
  attributes: ColumnType<Record<string, unknown>, string | undefined, string>;
  last_import_id: string | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface AudienceMembersTable {
  workspace_id: string;
  audience_id: string;
  contact_id: number;
  added_at: Generated<Date>;
}

export interface ImportsTable {
  id: Generated<string>;
  workspace_id: string;
  audience_id: string;
  format: string;
  default_country: string | null;
  status: ImportStatus;
  received_at: Date | null;
  staged: Generated<number>;
  checkpoint: Generated<number>;
  total: Generated<number>;
  imported: Generated<number>;
  updated: Generated<number>;
  duplicates: Generated<number>;
  invalid: Generated<number>;
  error: string | null;
  created_at: Generated<Date>;
  started_at: Date | null;
  finished_at: Date | null;
}

/** Staging: rows normalized while the upload was read (see the 20261126T2100 migration). */
export interface ImportRowsTable extends ContactDetails {
  import_id: string;
  workspace_id: string;
  row_no: number;
  e164: string | null;
  attributes: string | null;
  opted_in_at: Date | null;
  consent_source: string | null;
  phone: string | null;
  reason: string | null;
  detail: string | null;
}

export interface ImportErrorsTable {
  import_id: string;
  workspace_id: string;
  row_no: number;
  phone: string | null;
  reason: string;
  detail: string | null;
}

export interface SegmentsTable {
  id: Generated<string>;
  workspace_id: string;
  audience_id: string;
  name: string | null;
  filter: ColumnType<unknown, string, string>;
  created_at: Generated<Date>;
}

export interface AudienceTables {
  audiences: AudiencesTable;
  contacts: ContactsTable;
  audience_members: AudienceMembersTable;
  imports: ImportsTable;
  import_rows: ImportRowsTable;
  import_errors: ImportErrorsTable;
  segments: SegmentsTable;
}
