import { pathBytesMax } from './constants.js';

/**
 * ZooKeeper's path rules: absolute, `/`-separated, no empty, `.` or `..` segments, no trailing
 * slash except the root, and none of the characters ZooKeeper rejects. `\u0000` in particular is
 * the separator of the key layout (see keys.ts), so it must never reach a name.
 */
export function pathProblem(path: unknown): string | null {
  if (typeof path !== 'string') return 'path must be a string';
  if (path.length === 0 || path.charCodeAt(0) !== 0x2f) return 'path must start with /';
  if (path === '/') return null;
  if (path.charCodeAt(path.length - 1) === 0x2f) return 'path must not end with /';
  if (Buffer.byteLength(path, 'utf8') > pathBytesMax) return `path longer than ${pathBytesMax} bytes`;
  let segmentStart = 1;
  for (let i = 1; i <= path.length; i++) {
    const c = i === path.length ? 0x2f : path.charCodeAt(i);
    if (c === 0x2f) {
      const length = i - segmentStart;
      if (length === 0) return 'empty segment';
      if (length <= 2 && (path.slice(segmentStart, i) === '.' || path.slice(segmentStart, i) === '..')) {
        return 'relative segment';
      }
      segmentStart = i + 1;
      continue;
    }
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || c >= 0xfff0) return 'invalid character';
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = path.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return 'unpaired surrogate';
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      return 'unpaired surrogate';
    }
  }
  return null;
}

export function isValidPath(path: unknown): path is string {
  return pathProblem(path) === null;
}

/** Parent of a valid non-root path. */
export function parentOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash === 0 ? '/' : path.slice(0, slash);
}

/** Last segment of a valid non-root path. */
export function nameOf(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

export function joinPath(parent: string, name: string): string {
  return parent === '/' ? `/${name}` : `${parent}/${name}`;
}

/**
 * Orders strings by Unicode code point, which is the UTF-8 byte order LevelDB uses for keys.
 * Plain `<` compares UTF-16 code units and would disagree for astral characters.
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) return fixup(x) - fixup(y);
    return x - y;
  }
  return a.length - b.length;
}

function fixup(unit: number): number {
  // Surrogates (astral code points) sort after the rest of the BMP in code-point order.
  return unit >= 0xe000 ? unit - 0x800 : unit + 0x2000;
}
