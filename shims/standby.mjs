// oc-versions standby barrier (docs/service.md#the-standby). The launcher (openclaw-gateway)
// passes this module to node as `--import data:text/javascript;base64,…` (rendered from this file)
// when the process backend's hand-over asks for a standby: node then boots while the old gateway
// still drains, and this module holds the gateway's own code back until the old job is gone.
//
// Protocol on the file descriptor named by OC_VERSIONS_STANDBY_FD (a socket to the supervisor):
//   this module writes "r" (parked: node is up, no gateway code has run), then reads one byte.
//   "g" lets the entry run; anything else, or the socket closing, exits 75 without running it.
// Outside a standby (the variable unset: a worker, a child) it does nothing. It removes itself
// from process.execArgv and the variable from process.env, so nothing the gateway starts sees them.
import fs from 'node:fs';

const fd = Number(process.env.OC_VERSIONS_STANDBY_FD);
if (Number.isInteger(fd) && fd > 2) {
  delete process.env.OC_VERSIONS_STANDBY_FD;
  const i = process.execArgv.findIndex((a) => a === '--import' || a.startsWith('--import=data:text/javascript;base64,'));
  if (i >= 0) process.execArgv.splice(i, process.execArgv[i].startsWith('--import=') ? 1 : 2);
  const b = Buffer.from('r');
  let n = 0;
  try {
    fs.writeSync(fd, b);
    for (;;) {
      try {
        n = fs.readSync(fd, b, 0, 1, null);
        break;
      } catch (e) {
        if (e.code !== 'EAGAIN') break;
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
      }
    }
  } catch {
    n = 0;
  }
  try {
    fs.closeSync(fd);
  } catch {
    // already closed
  }
  if (n !== 1 || b[0] !== 0x67) process.exit(75);
}
