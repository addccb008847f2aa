import type { Socket } from 'node:net';
import { isUserName } from '@vigil/store';
import { verifiedClientName } from '../tls/tls-credentials.js';

/**
 * The user a client certificate names: its subject CN, when the cluster's CA verified it and it is
 * a valid user name (anything else could not be stamped on a write); null otherwise, and on plain
 * sockets.
 */
export function certificateUser(socket: Socket): string | null {
  const name = verifiedClientName(socket);
  return isUserName(name) ? name : null;
}
