/** The words of a shell line, and whether the line ends inside one (for completion). */
export interface SplitLine {
  readonly words: string[];
  /** The last word runs up to the end of the line (no whitespace after it). */
  readonly endsInWord: boolean;
  /** A quote is still open at the end of the line. */
  readonly openQuote: boolean;
}

/**
 * Splits a line as a POSIX shell would, without expansions: whitespace separates words, '…' is
 * literal, "…" allows \" and \\, and a backslash outside quotes takes the next character as is.
 */
export function splitLine(line: string): SplitLine {
  const words: string[] = [];
  let word: string | null = null;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quote === "'") {
      if (ch === "'") quote = null;
      else word += ch;
    } else if (quote === '"') {
      if (ch === '"') quote = null;
      else if (ch === '\\' && (line[i + 1] === '"' || line[i + 1] === '\\')) word += line[++i]!;
      else word += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      word ??= '';
    } else if (ch === '\\' && i + 1 < line.length) {
      word = (word ?? '') + line[++i]!;
    } else if (/\s/.test(ch)) {
      if (word !== null) words.push(word);
      word = null;
    } else {
      word = (word ?? '') + ch;
    }
  }
  if (word !== null) words.push(word);
  return { words, endsInWord: word !== null, openQuote: quote !== null };
}
