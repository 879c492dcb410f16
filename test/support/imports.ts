// Importing contacts the way a client does: a CSV posted to an audience, then the import job
// polled until it completes.
import { expect } from 'vitest';
import { ApiClient, eventually } from './engine';

export async function importCsv(api: ApiClient, audienceId: string, csv: string): Promise<void> {
  const imp = await api.request('POST', `/v1/audiences/${audienceId}/imports?default_country=US`, csv, {
    'content-type': 'text/csv',
  });
  expect(imp.status).toBe(202);
  await eventually(
    async () => (await api.get(`/v1/imports/${imp.body.id}`)).body.status === 'completed',
    30_000,
  );
}
