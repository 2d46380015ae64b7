/**
 * Binary property lists ("bplist00"): launchd loads them as well as XML, and a LaunchAgent
 * converted with `plutil -convert binary1` (or written by a tool that saves binary) is one.
 * OpenClaw reads plists through `plutil -convert xml1`; so do we where plutil exists (macOS),
 * else this reader (Apple's CFBinaryPList layout: header, objects, offset table, 32-byte
 * trailer; dictionaries, arrays, ASCII/UTF-16 strings, integers, reals, booleans, dates, data).
 * Independent of the launchd model's own reader in test/helpers/doubles/bplist.mjs on purpose:
 * the model must not share the code it tests.
 */
import { build as buildPlist, type PlistValue } from 'plist';
import { OcError } from '../errors.js';
import { run } from '../os/proc.js';

export const BPLIST_MAGIC = 'bplist00';

export function isBinaryPlist(bytes: Buffer): boolean {
  return bytes.length >= 40 && bytes.toString('latin1', 0, 8) === BPLIST_MAGIC;
}

/** Decode a bplist00 buffer; INVALID_INPUT (naming `where`) on anything malformed. */
export function decodeBinaryPlist(bytes: Buffer, where: string): PlistValue {
  const bad = (why: string): OcError => new OcError('INVALID_INPUT', `${where} is not a valid binary plist: ${why}`);
  if (!isBinaryPlist(bytes)) throw bad('no bplist00 header');
  const trailer = bytes.length - 32;
  const offsetSize = bytes[trailer + 6]!;
  const refSize = bytes[trailer + 7]!;
  const count = Number(bytes.readBigUInt64BE(trailer + 8));
  const root = Number(bytes.readBigUInt64BE(trailer + 16));
  const table = Number(bytes.readBigUInt64BE(trailer + 24));
  if (!offsetSize || !refSize || table + count * offsetSize > trailer) throw bad('bad trailer');
  const be = (at: number, size: number): number => {
    if (at + size > trailer) throw bad('reference past the end');
    let n = 0;
    for (let k = 0; k < size; k++) n = n * 256 + bytes[at + k]!;
    return n;
  };
  const open = new Set<number>();
  const object = (ref: number): PlistValue => {
    if (ref >= count || open.has(ref)) throw bad('bad object reference');
    open.add(ref);
    try {
      return decodeAt(be(table + ref * offsetSize, offsetSize));
    } finally {
      open.delete(ref);
    }
  };
  const sized = (at: number): [length: number, body: number] => {
    const nibble = bytes[at]! & 0x0f;
    if (nibble !== 0x0f) return [nibble, at + 1];
    const width = 1 << (bytes[at + 1]! & 0x0f);
    return [be(at + 2, width), at + 2 + width];
  };
  const decodeAt = (at: number): PlistValue => {
    const marker = bytes[at]!;
    switch (marker >> 4) {
      case 0x0:
        if (marker === 0x08) return false;
        if (marker === 0x09) return true;
        throw bad(`unsupported marker 0x${marker.toString(16)}`);
      case 0x1: {
        const width = 1 << (marker & 0x0f);
        return width === 8 ? Number(bytes.readBigInt64BE(at + 1)) : be(at + 1, width);
      }
      case 0x2:
        return (marker & 0x0f) === 3 ? bytes.readDoubleBE(at + 1) : bytes.readFloatBE(at + 1);
      case 0x3:
        // Seconds since 2001-01-01 (Apple's reference date).
        return new Date((bytes.readDoubleBE(at + 1) + 978_307_200) * 1000);
    }
    const [n, body] = sized(at);
    switch (marker >> 4) {
      case 0x4:
        return Buffer.from(bytes.subarray(body, body + n)) as unknown as PlistValue;
      case 0x5:
        return bytes.toString('latin1', body, body + n);
      case 0x6:
        // UTF-16BE: swapped on a copy (the input stays as it was).
        return Buffer.from(bytes.subarray(body, body + 2 * n)).swap16().toString('utf16le');
      case 0xa:
        return Array.from({ length: n }, (_, k) => object(be(body + k * refSize, refSize)));
      case 0xd: {
        const dict: Record<string, PlistValue> = {};
        for (let k = 0; k < n; k++) {
          const key = object(be(body + k * refSize, refSize));
          if (typeof key !== 'string') throw bad('a dictionary key is not a string');
          dict[key] = object(be(body + (n + k) * refSize, refSize));
        }
        return dict;
      }
      default:
        throw bad(`unsupported marker 0x${marker.toString(16)}`);
    }
  };
  return object(root);
}

/**
 * A plist file's XML text: as it is, or converted from binary by `plutil -convert xml1 -o -`
 * where plutil exists (macOS), else by decodeBinaryPlist (`bytes` are the file's content).
 */
export async function plistXmlOf(bytes: Buffer, file: string, env: NodeJS.ProcessEnv): Promise<string> {
  if (!isBinaryPlist(bytes)) return bytes.toString('utf8');
  const r = await run('plutil', ['-convert', 'xml1', '-o', '-', file], { env, timeoutMs: 10_000 });
  if (!r.error && r.code === 0 && r.stdout.includes('<plist')) return r.stdout;
  return buildPlist(decodeBinaryPlist(bytes, file));
}
