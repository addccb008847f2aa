/** UTF-8 length without Buffer (browsers); stops counting once past `max`. */
export function utf8ByteLength(s: string, max = Infinity): number {
  return countUtf8(s, max);
}

function countUtf8(s: string, max: number): number {
  let n = 0;
  for (let i = 0; i < s.length && n <= max; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}
