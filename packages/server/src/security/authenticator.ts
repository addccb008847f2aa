import { createHash } from 'node:crypto';
import { roles as allRoles, type Caller, type Role, type Store } from '@vigil/store';
import { AuthFailures } from './auth-failures.js';
import { unknownUserHash, verifySecret } from './secret-hash.js';

/** The name the superuser authenticates as; its hash is each member's setting, not a replicated user. */
export const superuserName = 'super';

/** Who a connection (or an HTTP request) acts as, once authenticated. */
export interface Identity {
  /** Absent: anonymous, which only a member without `--auth` lets in. */
  readonly user?: string;
  /** Passes every ACL and holds every admin role. */
  readonly superuser: boolean;
  readonly roles: readonly Role[];
  /** How it proved itself. */
  readonly by: 'secret' | 'certificate' | 'anonymous';
}

export interface Credentials {
  readonly user: string;
  readonly secret: string;
}

export type Authenticated = { readonly ok: true; readonly identity: Identity } | { readonly ok: false; readonly why: string };

export interface AuthenticatorOptions {
  /** `--auth`: every client must authenticate, and ACLs are enforced. */
  readonly required: boolean;
  /** `--superuser-hash`; '' for no superuser. */
  readonly superuserHash: string;
  /** The replicated users table. */
  readonly store: Pick<Store, 'user'>;
  /**
   * Called before a user unknown here is refused: this member may not have applied the entry that
   * added it yet (a linearizable read barrier brings it up to date).
   */
  readonly catchUp?: () => Promise<void>;
  readonly failures?: AuthFailures;
}

/** No user: what a member without `--auth` lets in, and what a ZooKeeper connection is until its `addauth`. */
export const anonymous: Identity = { superuser: false, roles: [], by: 'anonymous' };

/**
 * Credentials checked lately, by a sha256 of user and secret: an HTTP client sends its secret with
 * every request, and a scrypt check per request (tens of ms of a libuv thread) would bound the
 * JSON API to a few dozen requests a second. An entry stands only while the user's hash is the one
 * it was checked against, and for `verifiedTtlMs` at most.
 */
const verifiedMax = 1_024;
const verifiedTtlMs = 5 * 60_000;

/**
 * Decides who a client is, from a user and secret (checked against the replicated users table or
 * the superuser's hash) or from a client certificate verified against the cluster's CA (its CN is
 * the user; roles come from the users table if that user exists there). Failed secrets are counted
 * per address and refused without a check while the address is over its allowance.
 */
export class Authenticator {
  readonly failures: AuthFailures;
  /** The hash each secret-proven user identity was checked against: if it changes, the identity is void. */
  readonly #provenBy = new WeakMap<Identity, string>();
  readonly #verified = new Map<string, { readonly hash: string; readonly untilMs: number }>();

  constructor(private readonly options: AuthenticatorOptions) {
    this.failures = options.failures ?? new AuthFailures();
  }

  get required(): boolean {
    return this.options.required;
  }

  async authenticate(credentials: Credentials | undefined, certificateName: string | null, address: string): Promise<Authenticated> {
    if (credentials !== undefined) return this.#bySecret(credentials, address);
    if (certificateName !== null) return { ok: true, identity: { user: certificateName, superuser: false, roles: this.options.store.user(certificateName)?.roles ?? [], by: 'certificate' } };
    if (this.options.required) return { ok: false, why: 'this server requires authentication: a user and secret, or a client certificate' };
    return { ok: true, identity: anonymous };
  }

  async #bySecret({ user, secret }: Credentials, address: string): Promise<Authenticated> {
    const waitMs = this.failures.waitMs(address);
    if (waitMs > 0) return { ok: false, why: `too many failed attempts from ${address}; try again in ${waitMs} ms` };
    const key = createHash('sha256').update(user).update('\0').update(secret).digest('base64');
    const known = this.#verified.get(key);
    if (known !== undefined && known.untilMs > performance.now()) {
      const identity = this.#identityIfHash(user, known.hash);
      if (identity !== null) return { ok: true, identity };
    }
    this.#verified.delete(key);
    const checked = await this.#check(user, secret);
    if (checked !== null) {
      if (this.#verified.size >= verifiedMax) this.#verified.delete(this.#verified.keys().next().value as string);
      this.#verified.set(key, { hash: checked.hash, untilMs: performance.now() + verifiedTtlMs });
      const identity = this.#identityIfHash(user, checked.hash);
      if (identity !== null) return { ok: true, identity };
    }
    this.failures.failed(address);
    return { ok: false, why: 'unknown user or wrong secret' };
  }

  /** The hash `secret` matches for `user` (the superuser's or the user's), or null. */
  async #check(user: string, secret: string): Promise<{ hash: string } | null> {
    if (user === superuserName) {
      const hash = this.options.superuserHash;
      return hash !== '' && (await verifySecret(secret, hash)) ? { hash } : null;
    }
    let record = this.options.store.user(user);
    if (record === undefined && this.options.catchUp !== undefined) {
      await this.options.catchUp().catch(() => undefined);
      record = this.options.store.user(user);
    }
    // An unknown user costs as much as a wrong secret: the answer's timing tells nothing.
    const ok = await verifySecret(secret, record?.hash ?? unknownUserHash);
    return ok && record !== undefined ? { hash: record.hash } : null;
  }

  /** `user`'s identity if its secret's hash is still `hash` (the table or the superuser setting may have changed since). */
  #identityIfHash(user: string, hash: string): Identity | null {
    if (user === superuserName) return this.options.superuserHash === hash ? { user, superuser: true, roles: allRoles, by: 'secret' } : null;
    const record = this.options.store.user(user);
    if (record === undefined || record.hash !== hash) return null;
    const identity: Identity = { user, superuser: false, roles: record.roles, by: 'secret' };
    this.#provenBy.set(identity, record.hash);
    return identity;
  }

  /**
   * Whether an identity proven earlier still stands: a user removed, or given another secret or
   * other roles since, must authenticate again (the superuser's hash and certificates are the
   * members' settings, not the table's).
   */
  stillValid(identity: Identity): boolean {
    const hash = this.#provenBy.get(identity);
    if (hash === undefined) return true;
    const record = this.options.store.user(identity.user as string);
    return record !== undefined && record.hash === hash && record.roles.length === identity.roles.length && record.roles.every((r) => identity.roles.includes(r));
  }

  /** What a write carries and a read is checked with: nothing at all without `--auth`. */
  caller(identity: Identity, address: string): Caller | undefined {
    if (!this.options.required) return undefined;
    return { ...(identity.user === undefined ? {} : { user: identity.user }), address, ...(identity.superuser ? { superuser: true } : {}) };
  }

  /** Whether `identity` may use the admin API's `role` part: without `--auth` everyone may. */
  allows(identity: Identity, role: Role): boolean {
    if (!this.options.required || identity.superuser) return true;
    return identity.roles.includes('admin') || identity.roles.includes(role);
  }
}

/** A socket's remote address as ACLs see it: IPv4-mapped IPv6 addresses as plain IPv4. */
export function clientAddress(remote: string | undefined): string {
  if (remote === undefined) return '';
  return remote.startsWith('::ffff:') && remote.includes('.') ? remote.slice(7) : remote;
}
