import type { IncomingMessage } from 'node:http';
import { authSecretBytesMax, userNameBytesMax } from '@vigil/protocol';
import { ServerError } from '../errors.js';
import { clientAddress, type Authenticator, type Credentials, type Identity } from './authenticator.js';
import { certificateUser } from './client-certificate.js';

/** The user and secret of an `Authorization: Basic …` header; undefined without one; throws if malformed. */
export function basicCredentials(header: string | undefined): Credentials | undefined {
  if (header === undefined) return undefined;
  const match = /^Basic ([A-Za-z0-9+/]+={0,2})$/i.exec(header.trim());
  if (match === null) throw new ServerError('AUTH_FAILED', 'the Authorization header must be Basic <base64 of user:secret>');
  const text = Buffer.from(match[1] as string, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 1) throw new ServerError('AUTH_FAILED', 'the Basic credentials must be user:secret');
  const user = text.slice(0, colon);
  const secret = text.slice(colon + 1);
  if (Buffer.byteLength(user) > userNameBytesMax || Buffer.byteLength(secret) > authSecretBytesMax) throw new ServerError('AUTH_FAILED', 'the Basic credentials are too long');
  return { user, secret };
}

/**
 * Who an HTTP request comes from: HTTP Basic credentials, else a verified client certificate, else
 * anonymous (which a member with --auth refuses). Throws AUTH_FAILED (401).
 */
export async function httpIdentity(authenticator: Authenticator, request: IncomingMessage): Promise<Identity> {
  const address = clientAddress(request.socket.remoteAddress);
  const result = await authenticator.authenticate(basicCredentials(request.headers.authorization), certificateUser(request.socket), address);
  if (!result.ok) throw new ServerError('AUTH_FAILED', result.why);
  return result.identity;
}
