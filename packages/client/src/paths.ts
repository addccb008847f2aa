/**
 * The namespace (chroot): the client's paths are relative to it. `'/'` is the namespace node
 * itself, `'/x'` is `namespace + '/x'`. Only what is needed to map paths is checked here; the
 * server checks the full path syntax (BAD_ARGUMENTS).
 */
import { VigilError } from '@vigil/protocol';

/** '' (no namespace) or an absolute path without a trailing slash. */
export function parseNamespace(namespace: string): string {
  if (namespace === '' || namespace === '/') return '';
  if (!namespace.startsWith('/') || namespace.endsWith('/') || namespace.includes('//')) {
    throw new VigilError('BAD_ARGUMENTS', `namespace ${JSON.stringify(namespace)}: must be absolute, without empty segments or a trailing slash`);
  }
  return namespace;
}

export class Namespace {
  constructor(readonly root: string) {}

  /** The path as the server knows it. */
  toServer(path: string): string {
    if (typeof path !== 'string' || !path.startsWith('/')) {
      throw new VigilError('BAD_ARGUMENTS', `path ${JSON.stringify(path)}: must be absolute`, typeof path === 'string' ? { path } : {});
    }
    if (this.root === '') return path;
    return path === '/' ? this.root : this.root + path;
  }

  /**
   * The path as the caller knows it. A server path outside the namespace cannot come from a
   * request of this client; it is returned unchanged rather than mangled.
   */
  fromServer(path: string): string {
    if (this.root === '') return path;
    if (path === this.root) return '/';
    return path.startsWith(this.root + '/') ? path.slice(this.root.length) : path;
  }
}
