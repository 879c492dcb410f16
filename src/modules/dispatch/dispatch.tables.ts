// Row types of the dispatcher's own table (migrations/20261207T1800-record-once.ts).
import type { ColumnType } from 'kysely';

/** Who owns a partition of a consumer group now: its epoch, bumped on every assignment. */
export interface PartitionLeasesTable {
  group_id: string;
  topic: string;
  partition: number;
  epoch: ColumnType<string, string | number, string | number>;
  owner: string;
  taken_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface DispatchTables {
  partition_leases: PartitionLeasesTable;
}
