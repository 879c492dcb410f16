import { describe, expect, it } from 'vitest';
import { updateResults } from './bench.command';

const outcome = {
  scenario: 'send',
  rows: [{ scenario: 'send e2e', size: '20 msgs', rate: '1 msg/s', target: '≥ 5', verdict: 'below target' }],
  details: ['a detail'],
  machine: 'test machine',
  command: 'node x.js',
  seconds: 3,
  exitCode: 0,
} as unknown as Parameters<typeof updateResults>[1];

describe('updateResults', () => {
  it('puts the new entry first under its heading and keeps an intro that starts on the next line', () => {
    const md = [
      '# Benchmark results',
      '',
      '## send',
      'Why the figures moved, written by hand.',
      '',
      '### 2026-01-01T00:00:00Z — small size',
      '',
      '- old entry',
      '',
      '## campaign',
      '',
      '### 2026-01-01T00:00:00Z — small size',
      '',
    ].join('\n');
    const out = updateResults(md, outcome, false, 'npm run bench -- --only send');
    const lines = out.split('\n');
    const at = lines.indexOf('## send');
    expect(lines[at + 1]).toBe('Why the figures moved, written by hand.');
    expect(lines[at + 2]).toBe('');
    expect(lines[at + 3]).toMatch(/^### \d{4}-\d\d-\d\dT.* — small size$/);
    expect(out.indexOf('- old entry')).toBeGreaterThan(out.indexOf('a detail'));
    expect(out).toContain('\n## campaign\n');
  });
});
