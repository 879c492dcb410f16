// The worker thread that turns an import's records into staging rows (import-staging.ts), so the
// receiving process reads the upload and talks to Postgres while the rows are normalized.
import { serveTasks } from '../../infra/workers/worker-pool';
import { RecordBatch, stageRecords, transferablesOf } from './import-staging';

serveTasks((batch: RecordBatch) => {
  const output = stageRecords(batch);
  return { output, transfer: transferablesOf(output) };
});
