/**
 * A tiny static HTTP server on 127.0.0.1 (random port by default) for the
 * render page and the viewer: in-memory pages plus read-only folders
 * mounted under URL prefixes. Browsers load ES modules only over HTTP, and
 * this keeps the pages free of any bundler.
 */

import { createReadStream, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';
import { distSimDir, threeBuildDir } from './paths.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

export interface StaticServerOptions {
  /** URL path -> HTML (or other text) served as is, e.g. { '/': '<!doctype html>...' }. */
  pages?: Record<string, string>;
  /** URL prefix ('/sim/') -> folder on disk. */
  mounts?: Record<string, string>;
  /** 0 (default) picks a free port. */
  port?: number;
}

export interface StaticServer {
  readonly server: Server;
  /** http://127.0.0.1:<port> */
  readonly url: string;
  close(): Promise<void>;
}

/** The mounts every page needs: `three` and the compiled sim modules. */
export function defaultMounts(): Record<string, string> {
  return { '/three/': threeBuildDir(), '/sim/': distSimDir() };
}

/** An HTML page loading one module, with `three` mapped to the served build. */
export function modulePage(title: string, module: string, body = ''): string {
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${title}</title>
<script type="importmap">{"imports": {"three": "/three/three.module.js"}}</script>
</head><body>${body}
<script type="module" src="${module}"></script>
</body></html>
`;
}

function serve(req: IncomingMessage, res: ServerResponse, options: StaticServerOptions): void {
  const path = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
  const send = (status: number, text: string) => {
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(text);
  };
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed');
  const page = options.pages?.[path];
  if (page !== undefined) {
    res.writeHead(200, { 'content-type': TYPES[extname(path)] ?? TYPES['.html'], 'cache-control': 'no-store' });
    res.end(page);
    return;
  }
  for (const [prefix, dir] of Object.entries(options.mounts ?? {})) {
    if (!path.startsWith(prefix)) continue;
    const file = normalize(join(dir, path.slice(prefix.length)));
    if (file !== dir && !file.startsWith(dir.endsWith(sep) ? dir : dir + sep)) return send(403, 'forbidden');
    let size: number;
    try {
      const st = statSync(file);
      if (!st.isFile()) return send(404, 'not found');
      size = st.size;
    } catch {
      return send(404, `not found: ${path}`);
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'content-length': size, 'cache-control': 'no-store' });
    if (req.method === 'HEAD') return void res.end();
    createReadStream(file).pipe(res);
    return;
  }
  send(404, `not found: ${path}`);
}

/** Start serving; resolves once listening on 127.0.0.1. */
export async function startStaticServer(options: StaticServerOptions): Promise<StaticServer> {
  const server = createServer((req, res) => serve(req, res, options));
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolveListen());
  });
  const { port } = server.address() as AddressInfo;
  return {
    server,
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolveClose) => {
        server.closeAllConnections();
        server.close(() => resolveClose());
      }),
  };
}
