import type { Command } from 'commander';
import { registerAdminCommands } from './admin-commands.js';
import type { CommandHost } from './command-context.js';
import { registerClusterCommands } from './cluster-commands.js';
import { registerSecurityCommands } from './security-commands.js';
import { registerSnapshotCommands } from './snapshot-commands.js';
import { registerZnodeCommands } from './znode-commands.js';

/** Every command that talks to a cluster, in the order `help` lists them; the same in both modes. */
export function registerCommands(program: Command, host: CommandHost): void {
  registerZnodeCommands(program, host);
  registerClusterCommands(program, host);
  registerAdminCommands(program, host);
  registerSecurityCommands(program, host);
  registerSnapshotCommands(program, host);
}
