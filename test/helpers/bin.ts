/** Run an installed bin with an explicit node binary (the way `#!/usr/bin/env node` would, with that node first). */
import { spawn } from 'node:child_process';

export interface BinResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function spawnBin(node: string, bin: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 110_000): Promise<BinResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(node, [bin, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
