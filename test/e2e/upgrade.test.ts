import { describe, expect, inject, it } from 'vitest';
import { gatewayHost } from '../helpers/gateway.js';

describe('upgrade (process backend, real fixture gateways)', () => {
  it('upgrades a running gateway and reports three stages', async () => {
    const h = await gatewayHost(inject('registryUrl'), '2026.1.1');
    try {
      expect(await h.version()).toBe('2026.1.1');
      const r = await h.cli('upgrade', '2026.2.1', '--json');
      expect(r.code, r.stderr).toBe(0);
      expect(r.json.outcome).toBe('upgraded');
      expect(r.json.stages.map((s: { name: string }) => s.name)).toEqual(['installed+promoted', 'restarted+responsive', 'health-verified']);
      expect(await h.version()).toBe('2026.2.1');
    } finally {
      await h.cleanup();
    }
  });
});
