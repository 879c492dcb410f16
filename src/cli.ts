// The `parley` command: `npm run -s parley -- <command> [options]`. Each command lives in
// src/cli/<name>.command.ts and is listed once here.
import 'reflect-metadata';
import { ConfigError } from './config/config.schema';
import type { CliCommand } from './cli/command';
import { keysCommand } from './cli/keys.command';
import { importCommand } from './cli/import.command';
import { migrateCommand } from './cli/migrate.command';
import { stackCommand } from './cli/stack.command';
import { simulateCommand } from './cli/simulate.command';
import { benchCommand } from './cli/bench.command';
import { demoCommand } from './cli/demo.command';

const COMMANDS: CliCommand[] = [
  stackCommand,
  migrateCommand,
  keysCommand,
  simulateCommand,
  importCommand,
  demoCommand,
  benchCommand,
];

function usage(): string {
  return [
    'usage: npm run -s parley -- <command> [options]',
    '',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(10)} ${c.summary}`),
    '',
    'Run `parley <command> --help` for its options.',
  ].join('\n');
}

async function main(argv: string[]) {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return 0;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  if (!cmd) {
    console.error(`parley: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(`usage: parley ${cmd.name} ${cmd.usage ?? ''}\n\n${cmd.summary}`);
    return 0;
  }
  return cmd.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code ?? 0),
  (err) => {
    if (err instanceof ConfigError) {
      for (const i of err.issues) console.error(`parley: configuration error: ${i.variable}: ${i.message}`);
      process.exit(78);
    }
    console.error(`parley: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
