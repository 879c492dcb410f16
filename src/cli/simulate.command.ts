import { readFileSync } from 'node:fs';
import { SIMULATOR_HTTP_PORT, SIMULATOR_SMPP_PORT } from '../modules/carriers/carriers.config';
import { CarrierSimulator } from '../simulator/carrier-simulator';
import { CliCommand, UsageError, options } from './command';

function port(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`--${name}: not a port: ${value}`);
  return n;
}

export const simulateCommand: CliCommand = {
  name: 'simulate',
  summary: 'Run the carrier simulator: an SMPP SMSC and a Twilio-style HTTP provider (GET /stats).',
  usage:
    '[--smpp-port 2775] [--http-port 2776] [--host 127.0.0.1] [--carriers-file f] [--scenario f.json] [--seed n] [--journal]',
  async run(args) {
    const { values } = options(args, {
      'smpp-port': { type: 'string' },
      'http-port': { type: 'string' },
      host: { type: 'string' },
      'carriers-file': { type: 'string' },
      scenario: { type: 'string' },
      seed: { type: 'string' },
      // Keep every message taken, for GET /journal (tests and benchmarks that check each send).
      journal: { type: 'boolean' },
    });
    let scenario: Record<string, unknown> = {};
    if (values.scenario) {
      try {
        scenario = JSON.parse(readFileSync(values.scenario, 'utf8'));
      } catch (e) {
        throw new UsageError(`--scenario ${values.scenario}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    if (values.seed !== undefined) scenario.seed = Number(values.seed);
    const sim = new CarrierSimulator({
      host: values.host,
      smppPort: port('smpp-port', values['smpp-port'], SIMULATOR_SMPP_PORT),
      httpPort: port('http-port', values['http-port'], SIMULATOR_HTTP_PORT),
      carriersFile: values['carriers-file'] ?? process.env.PARLEY_CARRIERS_FILE,
      scenario,
      journal: values.journal === true,
      log: (msg, fields) => console.log(JSON.stringify({ time: new Date().toISOString(), msg, ...fields })),
    });
    await sim.start();
    console.log(`simulator SMPP on ${sim.host}:${sim.smppPort}, HTTP on ${sim.httpUrl} (GET /stats)`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await sim.stop();
    return 0;
  },
};
