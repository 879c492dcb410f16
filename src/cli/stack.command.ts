import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { CliCommand } from './command';

export const STACK_SCRIPT = path.resolve(__dirname, '..', '..', '..', 'scripts', 'stack.mjs');

export const stackCommand: CliCommand = {
  name: 'stack',
  summary: 'Start, stop or report the local stack (Kafka, PostgreSQL, Redis).',
  usage: 'up [--brokers N] | down | status',
  async run(args) {
    const script = STACK_SCRIPT.includes(`${path.sep}dist${path.sep}`)
      ? STACK_SCRIPT.replace(`${path.sep}dist${path.sep}`, path.sep)
      : STACK_SCRIPT;
    const r = spawnSync(process.execPath, [script, ...(args.length ? args : ['status'])], {
      stdio: 'inherit',
    });
    return r.status ?? 1;
  },
};
