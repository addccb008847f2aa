import type { Command } from 'commander';
import type { CliIo } from '../cli-io.js';
import { CliError } from '../cli-error.js';
import { exitCodes } from '../exit-codes.js';
import { integerIn } from '../commands/option-values.js';

const hostsDefault = '127.0.0.1,localhost';
/** A client's name becomes a file name and a certificate's CN: keep it to one plain word. */
const clientNamePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

function list(text: string): string[] {
  return text.split(/[\s,]+/).filter((item) => item.length > 0);
}

/** `vigil certs`: a CA and member and client certificates for a test cluster (docs/security.md). */
export function registerCertsCommand(program: Command, io: CliIo): void {
  program
    .command('certs')
    .description('make a CA, member certificates and client certificates for a test cluster (TLS)')
    .requiredOption('--out <dir>', 'directory to write the PEM files to (a CA already there signs the new certificates)')
    .option('--nodes <n>', 'member certificates node1.pem … node<n>.pem', integerIn(0, 256), 3)
    .option('--hosts <list>', 'host names and IP addresses every member certificate is valid for (subject alternative names)', hostsDefault)
    .option('--clients <list>', 'client certificates client-<name>.pem, subject CN = name (comma-separated)', '')
    .option('--days <n>', 'validity of the member and client certificates in days', integerIn(1, 36_500), 365)
    .addHelpText('after', '\nKey files (*-key.pem) are written with mode 0600. Run it again with the same --out to rotate: new certificates, same CA.')
    .action(async (o: { out: string; nodes: number; hosts: string; clients: string; days: number }) => {
      const hosts = list(o.hosts);
      const clients = list(o.clients);
      const bad = clients.find((name) => !clientNamePattern.test(name));
      if (bad !== undefined) throw new CliError(`--clients: ${JSON.stringify(bad)} is not a name of letters, digits, '.', '_' or '-'`, exitCodes.usage, 'USAGE');
      if (o.nodes > 0 && hosts.length === 0) throw new CliError('--hosts: member certificates need at least one host', exitCodes.usage, 'USAGE');
      // node-forge is loaded only for this command.
      const { writeTestCerts } = await import('./make-certs.js');
      const written = await writeTestCerts({ out: o.out, nodes: o.nodes, hosts, clients, validDays: o.days });
      io.stdout(`${written.madeCa ? 'made a new CA' : `signed with the CA already in ${o.out}`}\n`);
      for (const file of written.files) io.stdout(`wrote ${file}\n`);
    });
}
