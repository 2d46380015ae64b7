/**
 * Version pins (`oc-versions pin`): which versions an upgrade may resolve to.
 * Pure; the pin itself is `config.pin`.
 */
import { OcError } from '../errors.js';
import type { VersionPin } from './config.js';
import { parseSpec, satisfiesOpenClaw, type ParsedSpec } from './specs.js';

export function pinOf(raw: string): VersionPin {
  const spec = parseSpec(raw);
  if (spec.kind === 'tag') {
    throw new OcError('INVALID_SPEC', `cannot pin to the dist-tag '${raw}': it moves`, { hint: 'pin a version (2026.3.1) or a range (2026.3, ^2026.3)' });
  }
  return { spec: spec.raw, range: spec.value, at: new Date().toISOString() };
}

export function insidePin(version: string, pin: VersionPin): boolean {
  return satisfiesOpenClaw(version, pin.range);
}

/**
 * The spec upgrade resolves under a pin: an exact version is left alone (checked later);
 * no spec / a dist-tag becomes the pin's range; a range is intersected with it.
 */
export function specUnderPin(spec: ParsedSpec, pin: VersionPin | undefined): ParsedSpec {
  if (!pin || spec.kind === 'version') return spec;
  if (spec.kind === 'tag') return parseSpec(pin.range);
  return { kind: 'range', raw: `${spec.raw} (pin ${pin.spec})`, value: `${spec.value} ${pin.range}` };
}
