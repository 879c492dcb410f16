// An engine wired to an in-process carrier simulator on ephemeral ports: the carriers file is the
// built-in one with its connectors pointed at this simulator, written to a temp file and handed to
// the engine through PARLEY_CARRIERS_FILE, exactly as a deployment would.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  CarriersFile,
  carriersFileSchema,
  defaultCarriersFile,
} from '../../src/modules/carriers/carriers.config';
import { CarrierSimulator } from '../../src/simulator/carrier-simulator';
import type { ScenarioInput } from '../../src/simulator/scenario';
import { TestEngine, startEngine } from './engine';

export interface SimulatedEngine {
  engine: TestEngine;
  sim: CarrierSimulator;
  carriers: CarriersFile;
  close(): Promise<void>;
}

export async function startSimulatedEngine(
  opts: {
    scenario?: ScenarioInput;
    env?: Record<string, string>;
    adjust?: (f: CarriersFile) => CarriersFile;
  } = {},
): Promise<SimulatedEngine> {
  const base = (opts.adjust ?? ((f) => f))(defaultCarriersFile());
  const sim = new CarrierSimulator({ smppPort: 0, httpPort: 0, carriers: base, scenario: opts.scenario });
  await sim.start();
  const carriers = carriersFileSchema.parse({
    ...base,
    connectors: base.connectors.map((c) =>
      c.kind === 'smpp'
        ? { ...c, port: sim.smppPort, enquire_link_seconds: 5 }
        : { ...c, base_url: `http://127.0.0.1:${sim.httpPort}` },
    ),
  });
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'parley-carriers-')), 'carriers.json');
  writeFileSync(file, JSON.stringify(carriers));
  const engine = await startEngine({ PARLEY_CARRIERS_FILE: file, ...(opts.env ?? {}) });
  return {
    engine,
    sim,
    carriers,
    async close() {
      await engine.close();
      await sim.stop();
    },
  };
}
