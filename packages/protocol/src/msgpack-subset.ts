import { frameDepthMax, mapEntriesMax } from './constants.js';

/**
 * Walks a frame's bytes once, before msgpackr sees them, and accepts only the subset of
 * docs/protocol.md: exactly one value; nil, bool, int (any width), float32/64, str (valid UTF-8),
 * bin, array, and maps whose keys are distinct strs; no extension types (that also shuts out
 * msgpackr's records, whose definitions are ext 0x72); containers nested at most `frameDepthMax`
 * deep, maps of at most `mapEntriesMax` entries. Iterative, so hostile nesting cannot blow the
 * stack, and every length is checked against the bytes left before it is trusted.
 *
 * Returns a problem, or null when the bytes are in the subset.
 */
export function msgpackSubsetProblem(bytes: Uint8Array): string | null {
  const end = bytes.byteLength;
  let pos = 0;
  /** Open containers: items still to read, and for maps the keys seen so far. */
  const stack: { left: number; keys: Set<string> | null }[] = [];
  let topLeft = 1;

  const uint = (width: number): number => {
    let v = 0;
    for (let i = 0; i < width; i++) v = v * 256 + (bytes[pos + i] as number);
    pos += width;
    return v;
  };

  while (true) {
    let open = stack[stack.length - 1];
    while (open !== undefined && open.left === 0) {
      stack.pop();
      open = stack[stack.length - 1];
    }
    if (open === undefined) {
      if (topLeft === 0) break;
      topLeft--;
    } else {
      open.left--;
    }
    // In a map of n entries, `left` runs 2n-1 (a key), 2n-2 (its value), …
    const expectKey = open !== undefined && open.keys !== null && open.left % 2 === 1;
    if (pos >= end) return 'truncated frame';
    const b = bytes[pos++] as number;

    if (expectKey) {
      let length: number;
      if (b >= 0xa0 && b <= 0xbf) length = b & 0x1f;
      else if (b === 0xd9 && pos + 1 <= end) length = uint(1);
      else if (b === 0xda && pos + 2 <= end) length = uint(2);
      else if (b === 0xdb && pos + 4 <= end) length = uint(4);
      else return 'map key is not a str';
      if (length > end - pos) return 'truncated frame';
      let key: string;
      try {
        key = utf8.decode(bytes.subarray(pos, pos + length));
      } catch {
        return 'str is not valid UTF-8';
      }
      pos += length;
      const keys = (open as { keys: Set<string> }).keys;
      if (keys.has(key)) return `duplicate map key ${JSON.stringify(key.slice(0, 64))}`;
      keys.add(key);
      continue;
    }

    if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) continue;

    let containerItems = -1;
    let isMap = false;
    let skip = -1;
    let isStr = false;
    if (b <= 0x8f) {
      containerItems = b & 0x0f;
      isMap = true;
    } else if (b <= 0x9f) {
      containerItems = b & 0x0f;
    } else if (b <= 0xbf) {
      skip = b & 0x1f;
      isStr = true;
    } else {
      const headerBytes = headerWidth[b - 0xc0] ?? 0;
      if (headerBytes === 0) return b === 0xc1 ? 'reserved byte 0xc1' : `msgpack type 0x${b.toString(16)} (extension) is not allowed`;
      if (pos + headerBytes > end) return 'truncated frame';
      switch (b) {
        case 0xca: case 0xcb: case 0xcc: case 0xcd: case 0xce: case 0xcf:
        case 0xd0: case 0xd1: case 0xd2: case 0xd3:
          pos += headerBytes;
          continue;
        case 0xc4: case 0xc5: case 0xc6:
          skip = uint(headerBytes);
          break;
        case 0xd9: case 0xda: case 0xdb:
          skip = uint(headerBytes);
          isStr = true;
          break;
        case 0xdc: case 0xdd:
          containerItems = uint(headerBytes);
          break;
        default: // 0xde, 0xdf
          containerItems = uint(headerBytes);
          isMap = true;
      }
    }

    if (skip >= 0) {
      if (skip > end - pos) return 'truncated frame';
      if (isStr && !isAscii(bytes, pos, pos + skip)) {
        try {
          utf8.decode(bytes.subarray(pos, pos + skip));
        } catch {
          return 'str is not valid UTF-8';
        }
      }
      pos += skip;
      continue;
    }

    if (stack.length + 1 > frameDepthMax) return `nested deeper than ${frameDepthMax}`;
    if (isMap && containerItems > mapEntriesMax) return `map of more than ${mapEntriesMax} entries`;
    const items = isMap ? containerItems * 2 : containerItems;
    // Every item takes at least one byte: a count beyond the bytes left is a lie.
    if (items > end - pos) return 'truncated frame';
    stack.push({ left: items, keys: isMap ? new Set<string>() : null });
  }
  return pos === end ? null : 'bytes after the frame';
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function isAscii(bytes: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if ((bytes[i] as number) >= 0x80) return false;
  return true;
}

/** Bytes after the type byte that hold a value or a length, for 0xc0..0xdf; 0 = not allowed here. */
const headerWidth: readonly number[] = [
  // c0 nil, c1 never, c2 false, c3 true (handled before), c4-c6 bin, c7-c9 ext
  0, 0, 0, 0, 1, 2, 4, 0, 0, 0,
  // ca float32, cb float64, cc-cf uint 8/16/32/64, d0-d3 int 8/16/32/64
  4, 8, 1, 2, 4, 8, 1, 2, 4, 8,
  // d4-d8 fixext, d9-db str, dc-dd array, de-df map
  0, 0, 0, 0, 0, 1, 2, 4, 2, 4, 2, 4,
];
