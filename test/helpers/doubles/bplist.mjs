// Binary property lists ("bplist00") for the launchd model: launchd reads binary plists as
// well as XML (plutil(1) -convert binary1 writes them; OpenClaw reads plists with
// `plutil -convert xml1`). A small reader and writer of the format (Apple's CFBinaryPList.c
// layout: header, objects, offset table, 32-byte trailer) for dictionaries, arrays, strings,
// integers, reals, booleans, dates and data.

/** Parse a bplist00 buffer; throws on anything else. */
export function parseBinaryPlist(buf) {
  if (buf.subarray(0, 8).toString('latin1') !== 'bplist00') throw new Error('not a binary plist');
  const t = buf.subarray(buf.length - 32);
  const offSize = t[6];
  const refSize = t[7];
  const numObjects = Number(t.readBigUInt64BE(8));
  const top = Number(t.readBigUInt64BE(16));
  const tableAt = Number(t.readBigUInt64BE(24));
  const uint = (at, n) => {
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 256 + buf[at + i];
    return v;
  };
  const offsetOf = (i) => uint(tableAt + i * offSize, offSize);
  const seen = new Set();
  const obj = (i) => {
    if (i >= numObjects || seen.has(i)) throw new Error('bad object reference');
    seen.add(i);
    try {
      return readAt(offsetOf(i));
    } finally {
      seen.delete(i);
    }
  };
  const lengthAt = (at) => {
    const low = buf[at] & 0x0f;
    if (low !== 0x0f) return { n: low, at: at + 1 };
    const size = 1 << (buf[at + 1] & 0x0f);
    return { n: uint(at + 2, size), at: at + 2 + size };
  };
  function readAt(at) {
    const m = buf[at];
    const hi = m >> 4;
    if (m === 0x00) return null;
    if (m === 0x08) return false;
    if (m === 0x09) return true;
    if (hi === 0x1) {
      const size = 1 << (m & 0x0f);
      return size === 8 ? Number(buf.readBigInt64BE(at + 1)) : uint(at + 1, size);
    }
    if (hi === 0x2) return (m & 0x0f) === 3 ? buf.readDoubleBE(at + 1) : buf.readFloatBE(at + 1);
    if (m === 0x33) return new Date((buf.readDoubleBE(at + 1) + 978307200) * 1000);
    const { n, at: body } = lengthAt(at);
    if (hi === 0x4) return Uint8Array.from(buf.subarray(body, body + n));
    if (hi === 0x5) return buf.subarray(body, body + n).toString('latin1');
    if (hi === 0x6) return buf.subarray(body, body + 2 * n).swap16().toString('utf16le');
    if (hi === 0xa) return Array.from({ length: n }, (_, k) => obj(uint(body + k * refSize, refSize)));
    if (hi === 0xd) {
      const out = {};
      for (let k = 0; k < n; k++) out[obj(uint(body + k * refSize, refSize))] = obj(uint(body + (n + k) * refSize, refSize));
      return out;
    }
    throw new Error(`unsupported binary plist object 0x${m.toString(16)}`);
  }
  return obj(top);
}

/** Write a value as bplist00 (what `plutil -convert binary1` produces, object for object). */
export function buildBinaryPlist(value) {
  const objects = [];
  const add = (v) => {
    const i = objects.length;
    objects.push(null);
    objects[i] = encode(v);
    return i;
  };
  const len = (marker, n) =>
    n < 15 ? Buffer.from([marker | n]) : Buffer.concat([Buffer.from([marker | 0x0f, 0x13]), u64(n)]);
  const u64 = (n) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(n));
    return b;
  };
  const ref = (i) => {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(i);
    return b;
  };
  function encode(v) {
    if (v === null || v === undefined) return Buffer.from([0x00]);
    if (v === false) return Buffer.from([0x08]);
    if (v === true) return Buffer.from([0x09]);
    if (typeof v === 'number' && Number.isInteger(v)) return Buffer.concat([Buffer.from([0x13]), u64(v)]);
    if (typeof v === 'number') {
      const b = Buffer.alloc(9);
      b[0] = 0x23;
      b.writeDoubleBE(v, 1);
      return b;
    }
    if (typeof v === 'string') {
      // eslint-disable-next-line no-control-regex
      if (/^[\x00-\x7f]*$/.test(v)) return Buffer.concat([len(0x50, v.length), Buffer.from(v, 'latin1')]);
      const u = Buffer.from(v, 'utf16le').swap16();
      return Buffer.concat([len(0x60, u.length / 2), u]);
    }
    if (v instanceof Uint8Array) return Buffer.concat([len(0x40, v.length), Buffer.from(v)]);
    if (Array.isArray(v)) {
      const refs = v.map(add);
      return Buffer.concat([len(0xa0, refs.length), ...refs.map(ref)]);
    }
    const keys = Object.keys(v);
    const krefs = keys.map(add);
    const vrefs = keys.map((k) => add(v[k]));
    return Buffer.concat([len(0xd0, keys.length), ...krefs.map(ref), ...vrefs.map(ref)]);
  }
  add(value);
  const parts = [Buffer.from('bplist00', 'latin1')];
  const offsets = [];
  let at = 8;
  for (const o of objects) {
    offsets.push(at);
    parts.push(o);
    at += o.length;
  }
  const table = Buffer.concat(offsets.map((o) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(o);
    return b;
  }));
  const trailer = Buffer.alloc(32);
  trailer[6] = 4;
  trailer[7] = 2;
  trailer.writeBigUInt64BE(BigInt(objects.length), 8);
  trailer.writeBigUInt64BE(0n, 16);
  trailer.writeBigUInt64BE(BigInt(at), 24);
  return Buffer.concat([...parts, table, trailer]);
}
