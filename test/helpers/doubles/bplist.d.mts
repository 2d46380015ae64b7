// Types for bplist.mjs (the launchd model's binary plist reader and writer).
export function parseBinaryPlist(buf: Buffer): unknown;
export function buildBinaryPlist(value: unknown): Buffer;
