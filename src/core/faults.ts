/**
 * Fault points for tests (OC_VERSIONS_FAULT=<point>:<kill|throw>). Unset, nothing here does anything.
 *
 * A point is a journal phase (fired by JournalWriter.enter right after the phase is recorded) or
 * `<phase>/<step>`: a step inside a phase that is not a phase of its own, fired by the code that
 * performs it while the journal is at <phase>. Steps:
 *   spawned — the process backend has spawned the gateway and not yet written its pidfile.
 *   set-aside — a state restore has set a live database aside and not yet put the snapshot's
 *     copy in its place (the path holds no database at that instant).
 * An install (no journal) has its own points, `install/<phase>`: see INSTALL_FAULT_POINTS.
 * `kill` SIGKILLs the updater itself (nothing runs after it: no finally, no exit hook);
 * `throw` throws an INTERNAL error from that spot;
 * `pause` (install points only) stops there for good, after creating the file named by
 * OC_VERSIONS_FAULT_PAUSED (if set): a test then knows the phase it signals the command in.
 */
import fs from 'node:fs';
import { OcError } from '../errors.js';

export interface FaultSpec {
  phase: string;
  action: 'kill' | 'throw' | 'pause';
}

/** The step fault points (the phases are the other points: see PHASES in journal.ts). */
export const STEP_FAULT_POINTS = ['restart/spawned', 'rollback-restart/spawned'] as const;
/**
 * Step points that fire only when a switch back restores state databases (a schema bump), so the
 * upgrade matrix cannot reach them: test/e2e/state-aside.test.ts exercises each.
 */
export const STATE_FAULT_POINTS = ['definition/set-aside'] as const;

export function parseFault(value: string | undefined): FaultSpec | null {
  if (!value) return null;
  const m = /^([a-z-]+(?:\/[a-z-]+)?):(kill|throw|pause)$/.exec(value.trim());
  return m ? { phase: m[1]!, action: m[2] as FaultSpec['action'] } : null;
}

let armed: FaultSpec | null = null;
let phase: string | null = null;

/** Called by the journal: the fault of this transaction, and each phase as it is entered. */
export function armFault(spec: FaultSpec | null): void {
  armed = spec;
}
export function setFaultPhase(p: string): void {
  phase = p;
}

/** Fire the armed fault if it names `point` exactly. */
export function fireFault(point: string, spec: FaultSpec | null = armed): void {
  if (!spec || spec.phase !== point) return;
  if (spec.action === 'kill') process.kill(process.pid, 'SIGKILL');
  throw new OcError('INTERNAL', `injected fault at ${point.includes('/') ? 'step' : 'phase'} ${point} (OC_VERSIONS_FAULT)`);
}

/** A step inside the current phase (e.g. `spawned`): fires `<phase>/<step>` when armed. */
export function faultStep(step: string): void {
  if (armed && phase !== null) fireFault(`${phase}/${step}`);
}

/** Points inside an install (stageVersion), right after its phase starts. Not in FAULT_POINTS: no journal. */
export const INSTALL_FAULT_POINTS = ['install/validate', 'install/seal'] as const;

/** An install point: fires OC_VERSIONS_FAULT when it names `point`; `pause` never returns. */
export async function installFault(point: (typeof INSTALL_FAULT_POINTS)[number], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const spec = parseFault(env['OC_VERSIONS_FAULT']);
  if (!spec || spec.phase !== point) return;
  if (spec.action !== 'pause') return fireFault(point, spec);
  const marker = env['OC_VERSIONS_FAULT_PAUSED'];
  if (marker) fs.writeFileSync(marker, `${process.pid} ${point}\n`);
  await new Promise<never>(() => setInterval(() => {}, 60_000));
}
