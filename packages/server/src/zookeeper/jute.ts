// Jute, the record encoding of ZooKeeper's client protocol: big-endian fixed-width integers,
// length-prefixed buffers, strings and vectors (length -1 meaning null). Pure and dependency-free
// so the connection code, tests and benchmarks share one codec.
//
// Two kinds of failure, as everywhere in Vigil: bytes from a client that do not parse are a
// JuteError (the connection answers or closes); a writer handed a value jute cannot carry is a
// bug in our code and throws RangeError.

/** Malformed input: truncated, a negative length other than -1, a length beyond the packet, trailing bytes. */
export class JuteError extends Error {
  override readonly name = 'JuteError';
}

const twoPow32 = 0x1_0000_0000;
/** The first capacity of a writer: a ping reply, a watch event or a small getData answer fits. */
const writerInitialBytes = 256;
/** Strings up to this length are encoded by a JavaScript loop when they are ASCII (see putShortString). */
const asciiLoopCharsMax = 64;
/** The 4-byte packet length at the head of every packet. */
const lengthPrefixBytes = 4;

export class JuteReader {
  private readonly bytes: Buffer;
  private offset = 0;

  constructor(bytes: Uint8Array) {
    // A view, not a copy: Buffer's readers and its UTF-8 decoder are the fast ones.
    this.bytes = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get remaining(): number {
    return this.bytes.length - this.offset;
  }

  int(): number {
    this.need(4, 'int');
    const n = this.bytes.readInt32BE(this.offset);
    this.offset += 4;
    return n;
  }

  /** A long as a number; a value outside the safe integer range is refused rather than rounded. */
  long(): number {
    this.need(8, 'long');
    const high = this.bytes.readInt32BE(this.offset);
    const low = this.bytes.readUInt32BE(this.offset + 4);
    this.offset += 8;
    const n = high * twoPow32 + low;
    if (!Number.isSafeInteger(n)) throw new JuteError('long outside the safe integer range');
    return n;
  }

  bigLong(): bigint {
    this.need(8, 'long');
    const n = this.bytes.readBigInt64BE(this.offset);
    this.offset += 8;
    return n;
  }

  /** Any non-zero byte is true, as Java's DataInput.readBoolean reads it. */
  bool(): boolean {
    this.need(1, 'boolean');
    return this.bytes[this.offset++] !== 0;
  }

  /** A copy, so a znode's data does not keep the whole received packet alive. */
  buffer(): Uint8Array | null {
    const length = this.length('buffer');
    if (length < 0) return null;
    const copy = new Uint8Array(length);
    copy.set(this.bytes.subarray(this.offset, this.offset + length));
    this.offset += length;
    return copy;
  }

  /** Invalid UTF-8 decodes to U+FFFD, as Java's String constructor does. */
  string(): string | null {
    const length = this.length('string');
    if (length < 0) return null;
    const s = this.bytes.toString('utf8', this.offset, this.offset + length);
    this.offset += length;
    return s;
  }

  vector<T>(item: (r: JuteReader) => T): T[] | null {
    const count = this.length('vector');
    if (count < 0) return null;
    // Every jute item takes at least one byte, so `length` has already bounded count by the bytes
    // left; the array grows with what was actually read, never preallocated from a hostile count.
    const items: T[] = [];
    for (let i = 0; i < count; i++) items.push(item(this));
    return items;
  }

  /** Throws unless every byte has been read. */
  end(what: string): void {
    if (this.remaining !== 0) throw new JuteError(`${this.remaining} trailing bytes after ${what}`);
  }

  private need(bytes: number, what: string): void {
    if (this.bytes.length - this.offset < bytes) throw new JuteError(`truncated ${what}`);
  }

  /** A length or count: -1 (null), or at most the bytes left. */
  private length(what: string): number {
    const n = this.int();
    if (n === -1) return -1;
    if (n < 0) throw new JuteError(`negative ${what} length ${n}`);
    if (n > this.remaining) throw new JuteError(`${what} length ${n} beyond the ${this.remaining} bytes left`);
    return n;
  }
}

/**
 * Builds one packet in a single growing Buffer, its 4-byte length reserved at the head; fields are
 * written in place (no per-field arrays or Buffers), strings encoded straight into the buffer.
 */
export class JuteWriter {
  private bytes: Buffer;
  private offset = lengthPrefixBytes;

  constructor(capacityBytes = writerInitialBytes) {
    this.bytes = Buffer.allocUnsafe(Math.max(capacityBytes, lengthPrefixBytes + 8));
  }

  int(n: number): this {
    if ((n | 0) !== n) throw new RangeError(`jute int out of range: ${n}`);
    this.ensure(4);
    this.putInt(n);
    return this;
  }

  long(n: number | bigint): this {
    this.ensure(8);
    if (typeof n === 'bigint') {
      this.bytes.writeBigInt64BE(n, this.offset);
      this.offset += 8;
      return this;
    }
    if (!Number.isSafeInteger(n)) throw new RangeError(`jute long not a safe integer: ${n}`);
    const high = Math.floor(n / twoPow32);
    this.putInt(high | 0);
    this.putInt((n - high * twoPow32) | 0);
    return this;
  }

  bool(b: boolean): this {
    this.ensure(1);
    this.bytes[this.offset++] = b ? 1 : 0;
    return this;
  }

  buffer(b: Uint8Array | null): this {
    if (b === null) return this.int(-1);
    this.ensure(4 + b.length);
    this.putInt(b.length);
    this.bytes.set(b, this.offset);
    this.offset += b.length;
    return this;
  }

  string(s: string | null): this {
    if (s === null) return this.int(-1);
    // At most three UTF-8 bytes per UTF-16 unit (a surrogate pair is 4 bytes for 2 units).
    this.ensure(4 + s.length * 3);
    const start = this.offset + 4;
    const written = s.length <= asciiLoopCharsMax ? this.putShortString(s, start) : this.bytes.write(s, start, 'utf8');
    this.putInt(written);
    this.offset += written;
    return this;
  }

  vector<T>(items: readonly T[] | null, item: (w: JuteWriter, x: T) => void): this {
    if (items === null) return this.int(-1);
    this.int(items.length);
    for (const x of items) item(this, x);
    return this;
  }

  /** The packet with its 4-byte length prefix: a view of the writer's buffer, valid until the next write. */
  packet(): Buffer {
    this.bytes.writeInt32BE(this.offset - lengthPrefixBytes, 0);
    return this.bytes.subarray(0, this.offset);
  }

  /**
   * Paths and names are short and nearly always ASCII: a loop over them costs a tenth of
   * Buffer.write, whose native call dominates for a 20-character path. Returns the bytes written.
   */
  private putShortString(s: string, start: number): number {
    const b = this.bytes;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) return b.write(s, start, 'utf8');
      b[start + i] = c;
    }
    return s.length;
  }

  private putInt(n: number): void {
    const b = this.bytes;
    const o = this.offset;
    b[o] = n >>> 24;
    b[o + 1] = n >>> 16;
    b[o + 2] = n >>> 8;
    b[o + 3] = n;
    this.offset = o + 4;
  }

  private ensure(bytes: number): void {
    const needed = this.offset + bytes;
    if (needed <= this.bytes.length) return;
    let capacity = this.bytes.length * 2;
    while (capacity < needed) capacity *= 2;
    const grown = Buffer.allocUnsafe(capacity);
    this.bytes.copy(grown, 0, 0, this.offset);
    this.bytes = grown;
  }
}
