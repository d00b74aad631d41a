#!/usr/bin/env node
/**
 * The `iscsi-ts` command line. It only calls the public API (src/index.ts).
 * @module
 */
import { Command, InvalidArgumentError } from 'commander';
import { IscsiError } from '../index.js';
import { runDecode } from './decode.js';

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError('a TCP port (1-65535)');
  return n;
}

const program = new Command('iscsi-ts').description('A pure-TypeScript iSCSI stack: tools').showHelpAfterError();

program
  .command('decode')
  .description('print the iSCSI PDUs of a pcap or pcapng capture, one per line (CHAP challenges/responses redacted)')
  .argument('<capture>', 'a .pcap or .pcapng file (from iscsi-ts, tshark, tcpdump or Wireshark)')
  .option('-p, --port <port>', 'TCP port of the target', port, 3260)
  .option('--json', 'one JSON object per PDU, in a JSON array', false)
  .action((file: string, opts: { port: number; json: boolean }) => {
    process.exitCode = runDecode(file, opts, (line) => process.stdout.write(`${line}\n`));
  });

try {
  await program.parseAsync();
} catch (err) {
  if (err instanceof IscsiError) {
    console.error(`iscsi-ts: ${err.message} (${err.code})`);
    process.exitCode = 1;
  } else if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
    console.error(`iscsi-ts: ${(err as Error).message}`);
    process.exitCode = 1;
  } else {
    throw err;
  }
}
