import picocolors from 'picocolors';

/** The few styles the CLI uses; each one is the identity when colours are off. */
export interface Palette {
  readonly enabled: boolean;
  readonly bold: (text: string) => string;
  readonly dim: (text: string) => string;
  readonly red: (text: string) => string;
  readonly green: (text: string) => string;
  readonly yellow: (text: string) => string;
  readonly cyan: (text: string) => string;
}

/** Colours only on a terminal, and never when NO_COLOR is set to anything but "" (no-color.org). */
export function colorsWanted(isTTY: boolean | undefined, env: Readonly<Record<string, string | undefined>>): boolean {
  const noColor = env.NO_COLOR;
  return isTTY === true && (noColor === undefined || noColor === '');
}

export function createPalette(enabled: boolean): Palette {
  const c = picocolors.createColors(enabled);
  return { enabled, bold: c.bold, dim: c.dim, red: c.red, green: c.green, yellow: c.yellow, cyan: c.cyan };
}
