import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { isUserName } from '@vigil/store';

/**
 * The subject CN of the certificate a client presented on a TLS socket, if the cluster's CA
 * verified it (the client port asks for one and accepts connections without: `authorized` says
 * whether one was given and verified), if it is a valid user name; null otherwise, and on plain sockets.
 */
export function verifiedClientName(socket: Socket): string | null {
  if (!(socket instanceof TLSSocket) || !socket.authorized) return null;
  const subject = socket.getPeerCertificate().subject as Record<string, string | string[]> | undefined;
  const cn = subject?.['CN'];
  const name = Array.isArray(cn) ? cn[0] : cn;
  return isUserName(name) ? name : null;
}
