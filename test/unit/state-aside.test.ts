/** Set-aside file names (src/service/snapshot.ts, src/app/state-aside.ts): pure parsing. */
import { describe, expect, it } from 'vitest';
import { asideTransaction } from '../../src/app/state-aside.js';
import { parseAsideName } from '../../src/service/snapshot.js';

describe('set-aside names', () => {
  it('the transaction of a suffix keeps an all-digit hex part (a flake once: 6 % of txids) and drops only a -N repeat', () => {
    expect(asideTransaction('20261207T231658Z-123456')).toBe('20261207T231658Z-123456');
    expect(asideTransaction('20261207T231658Z-123456-2')).toBe('20261207T231658Z-123456');
    expect(asideTransaction('20261207T231658Z-02dcf3')).toBe('20261207T231658Z-02dcf3');
    expect(asideTransaction('20261207T231658Z-02dcf3-3')).toBe('20261207T231658Z-02dcf3');
  });

  it('parses a set-aside database and nothing else (not its -wal/-shm, not a look-alike)', () => {
    expect(parseAsideName('/s/state/openclaw.sqlite.oc-set-aside-20261207T231658Z-02dcf3')).toEqual({ original: '/s/state/openclaw.sqlite', txid: '20261207T231658Z-02dcf3' });
    expect(parseAsideName('/s/state/openclaw.sqlite.oc-set-aside-20261207T231658Z-02dcf3-2')).toEqual({ original: '/s/state/openclaw.sqlite', txid: '20261207T231658Z-02dcf3-2' });
    expect(parseAsideName('/s/state/openclaw.sqlite.oc-set-aside-20261207T231658Z-02dcf3-wal')).toBeNull();
    expect(parseAsideName('/s/state/openclaw.sqlite.oc-set-aside-yesterday')).toBeNull();
    expect(parseAsideName('/s/state/openclaw.sqlite')).toBeNull();
  });
});
