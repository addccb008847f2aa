import { aclPerms, type AclEntry, type AclScheme } from '@vigil/client';
import { aclEntriesMax } from '@vigil/protocol';
import { CliError } from '../cli-error.js';
import { exitCodes } from '../exit-codes.js';

/**
 * ACLs as the CLI reads and prints them, ZooKeeper's way: `scheme:id:perms`, entries separated by
 * commas, perms as letters of `rwcda` (read, write, create, delete, admin) in any order. The id
 * is everything between the first and the last colon, so an IPv6 address needs no quoting
 * (`ip:fd00::/8:r`).
 */

/** The letters in bit order: r = 1, w = 2, c = 4, d = 8, a = 16. */
const permLetters: readonly (readonly [string, number])[] = [
  ['r', aclPerms.read],
  ['w', aclPerms.write],
  ['c', aclPerms.create],
  ['d', aclPerms.delete],
  ['a', aclPerms.admin],
];

const schemes: readonly AclScheme[] = ['world', 'user', 'ip', 'digest', 'auth'];

export const aclTextHelp = 'comma-separated scheme:id:perms, perms letters of rwcda (e.g. world:anyone:r,user:alice:rwcda,ip:10.0.0.0/8:r,auth::cdrwa)';

/** `rwcda` letters → bits; a letter outside `rwcda` or none at all is a usage error. */
export function parsePerms(text: string, entry: string): number {
  if (text === '') throw usage(`${JSON.stringify(entry)} grants nothing: give perms as letters of rwcda`);
  let perms = 0;
  for (const letter of text) {
    const bit = permLetters.find(([l]) => l === letter)?.[1];
    if (bit === undefined) throw usage(`${JSON.stringify(entry)}: ${JSON.stringify(letter)} is not a permission (r read, w write, c create, d delete, a admin)`);
    perms |= bit;
  }
  return perms;
}

/** Bits → letters in `rwcda` order; `-` for none. */
export function permsText(perms: number): string {
  const text = permLetters.filter(([, bit]) => (perms & bit) !== 0).map(([l]) => l).join('');
  return text === '' ? '-' : text;
}

/** `world:anyone:r,user:alice:rwcda` → entries. Anything else is a usage error naming the entry. */
export function parseAclText(text: string): AclEntry[] {
  const items = text.split(',');
  if (items.length > aclEntriesMax) throw usage(`an ACL holds at most ${aclEntriesMax} entries, not ${items.length}`);
  return items.map((item) => {
    const first = item.indexOf(':');
    const last = item.lastIndexOf(':');
    if (item.trim() === '') throw usage(`empty entry in ${JSON.stringify(text)} (entries are separated by single commas)`);
    if (first < 0 || first === last) throw usage(`${JSON.stringify(item)} is not scheme:id:perms`);
    const scheme = item.slice(0, first);
    const id = item.slice(first + 1, last);
    if (!(schemes as readonly string[]).includes(scheme)) throw usage(`${JSON.stringify(item)}: unknown scheme ${JSON.stringify(scheme)} (schemes: ${schemes.join(', ')})`);
    const perms = parsePerms(item.slice(last + 1), item);
    if (scheme === 'world' && id !== 'anyone') throw usage(`${JSON.stringify(item)}: the world scheme's id is anyone`);
    if (scheme === 'auth' && id !== '') throw usage(`${JSON.stringify(item)}: the auth scheme has an empty id (auth::perms): it means the caller's own user`);
    if ((scheme === 'user' || scheme === 'ip' || scheme === 'digest') && id === '') throw usage(`${JSON.stringify(item)}: the ${scheme} scheme needs an id`);
    return { scheme: scheme as AclScheme, id, perms };
  });
}

/** One entry as `scheme:id:perms`. */
export function aclEntryText(entry: AclEntry): string {
  return `${entry.scheme}:${entry.id}:${permsText(entry.perms)}`;
}

function usage(message: string): CliError {
  return new CliError(`invalid ACL: ${message}`, exitCodes.usage, 'USAGE');
}
