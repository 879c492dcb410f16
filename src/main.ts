// The engine process: validates configuration, starts the roles named by PARLEY_ROLES (default
// all), and shuts down gracefully on SIGTERM/SIGINT (HTTP drains, Kafka consumers leave their
// groups, BullMQ workers finish their jobs, then the database and Redis close).
import 'reflect-metadata';
import os from 'node:os';
import { ConfigError, parseEnv } from './config/config.schema';
import { createEngine } from './engine';
import { CarriersConfigError } from './modules/carriers/carriers.config';

async function main() {
  let env;
  try {
    env = parseEnv(process.env);
  } catch (e) {
    if (e instanceof ConfigError) {
      for (const i of e.issues) console.error(`parley: configuration error: ${i.variable}: ${i.message}`);
      process.exit(78); // EX_CONFIG
    }
    throw e;
  }
  // Before the engine starts, so every thread it starts inherits the priority.
  let niceRefused: unknown;
  if (env.PARLEY_NICE !== 0) {
    try {
      os.setPriority(env.PARLEY_NICE);
    } catch (err) {
      niceRefused = err;
    }
  }
  let engine;
  try {
    engine = await createEngine(env);
  } catch (e) {
    if (e instanceof CarriersConfigError) {
      console.error(`parley: configuration error: ${e.message}`);
      process.exit(78);
    }
    throw e;
  }
  if (niceRefused)
    engine.logger.warn(
      { nice: env.PARLEY_NICE, err: niceRefused },
      'PARLEY_NICE not applied (a negative value needs privilege); running at the default priority',
    );
  engine.logger.info(
    { roles: env.PARLEY_ROLES, url: engine.url, nice: os.getPriority() },
    'parley engine started',
  );

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    engine.logger.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      engine.logger.error({ signal }, 'shutdown took too long; exiting');
      process.exit(1);
    }, 30_000);
    force.unref();
    engine.close().then(
      () => process.exit(0),
      (err) => {
        engine.logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  // Nest's own shutdown hooks are enabled too; ours exits the process once close() resolves.
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

main().catch((err) => {
  console.error('parley: failed to start:', err instanceof Error ? err.stack : err);
  process.exit(1);
});
