/**
 * Finding the process backend's own gateways without its pidfile.
 *
 * Every gateway the process backend starts carries OC_VERSIONS_GATEWAY=<label>@<home> in its
 * environment (set before the spawn, inherited across the launcher's exec) and leads its own
 * process group (spawned detached). So a gateway whose pidfile was never written (the updater
 * was SIGKILLed between the spawn and the write) or was lost is still found: a process-group
 * leader of this user whose environment carries this home's marker. Children of the gateway
 * inherit the marker but are not group leaders, so they never count on their own; one the gateway
 * started in a group of its own (its parent is a marked leader) does not count either, nor does a
 * process whose command line does not name the home (the launcher or a version tree).
 */

export const GATEWAY_MARKER_KEY = 'OC_VERSIONS_GATEWAY';

export function gatewayMarker(label: string, home: string): string {
  return `${label}@${home}`;
}

export { findMarkedLeaders, type MarkedProcess } from '../os/proc.js';
