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

const anonymous: Identity = { superuser: false, roles: [], by: 'anonymous' };

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
    if (user === superuserName) {
      const hash = this.options.superuserHash;
      if (hash !== '' && (await verifySecret(secret, hash))) return { ok: true, identity: { user, superuser: true, roles: allRoles, by: 'secret' } };
    } else {
      let record = this.options.store.user(user);
      if (record === undefined && this.options.catchUp !== undefined) {
        await this.options.catchUp().catch(() => undefined);
        record = this.options.store.user(user);
      }
      // An unknown user costs as much as a wrong secret: the answer's timing tells nothing.
      const ok = await verifySecret(secret, record?.hash ?? unknownUserHash);
      if (ok && record !== undefined) {
        const identity: Identity = { user, superuser: false, roles: record.roles, by: 'secret' };
        this.#provenBy.set(identity, record.hash);
        return { ok: true, identity };
      }
    }
    this.failures.failed(address);
    return { ok: false, why: 'unknown user or wrong secret' };
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
