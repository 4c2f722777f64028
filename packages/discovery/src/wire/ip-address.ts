import { DiscoveryError } from '../errors/discovery-error.js';

/** Parses dotted-quad IPv4 text into 4 bytes; throws `ERR_SD_INPUT` on anything else. */
export function parseIPv4(text: string): Uint8Array {
  const parts = text.split('.');
  const out = new Uint8Array(4);
  if (parts.length !== 4) throw badAddress(text, 'IPv4');
  parts.forEach((p, i) => {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > 255) throw badAddress(text, 'IPv4');
    out[i] = Number(p);
  });
  return out;
}

/** Formats 4 bytes as dotted-quad text. */
export function formatIPv4(b: Uint8Array): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

/**
 * Parses IPv6 text (RFC 4291 §2.2: hex groups, one `::`, optional trailing dotted IPv4) into
 * 16 bytes; throws `ERR_SD_INPUT` on anything else.
 */
export function parseIPv6(text: string): Uint8Array {
  const halves = text.split('::');
  if (halves.length > 2) throw badAddress(text, 'IPv6');
  const groups = (s: string): number[] => {
    if (s === '') return [];
    const out: number[] = [];
    const items = s.split(':');
    items.forEach((g, i) => {
      if (i === items.length - 1 && g.includes('.')) {
        const v4 = parseIPv4(g);
        out.push(((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0));
      } else if (/^[0-9a-fA-F]{1,4}$/.test(g)) {
        out.push(parseInt(g, 16));
      } else {
        throw badAddress(text, 'IPv6');
      }
    });
    return out;
  };
  const head = groups(halves[0] ?? '');
  const tail = halves.length === 2 ? groups(halves[1] ?? '') : [];
  const fill = 8 - head.length - tail.length;
  if (halves.length === 2 ? fill < 1 : fill !== 0) throw badAddress(text, 'IPv6');
  const all = [...head, ...new Array<number>(halves.length === 2 ? fill : 0).fill(0), ...tail];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

/** Formats 16 bytes as RFC 5952 canonical IPv6 text (lower case, longest zero run as `::`). */
export function formatIPv6(b: Uint8Array): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push(((b[2 * i] ?? 0) << 8) | (b[2 * i + 1] ?? 0));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (xs: number[]): string => xs.map((x) => x.toString(16)).join(':');
  if (bestLen < 2) return hex(g);
  return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
}

/** True for an IPv4 multicast address (224.0.0.0/4). */
export function isIPv4Multicast(b: Uint8Array): boolean {
  return ((b[0] ?? 0) & 0xf0) === 0xe0;
}

/** True for an IPv6 multicast address (ff00::/8). */
export function isIPv6Multicast(b: Uint8Array): boolean {
  return b[0] === 0xff;
}

function badAddress(text: string, family: string): DiscoveryError {
  return new DiscoveryError(
    'ERR_SD_INPUT',
    `"${text}" is not an ${family} address in canonical text form`,
  );
}
