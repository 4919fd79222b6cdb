/**
 * GET /dashboard: the usage dashboard, a static page that talks only to the public GraphQL API.
 *
 * Its TypeScript and CSS (dashboard/) are bundled by esbuild in memory when the server starts,
 * once per process: about a tenth of a second, nothing generated to commit or forget to rebuild,
 * and `npm start` on a fresh clone serves the current page. The bundle's file names carry a hash
 * of their content, so browsers may cache them forever while the page itself is never cached.
 * A build failure is logged and /dashboard answers 503; it never stops the API from serving.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import type { FastifyInstance, FastifyReply } from 'fastify';

export interface DashboardAsset {
  /** File name with its content hash, for example `app-5FJ2KQ7A.js`. */
  name: string;
  contentType: string;
  body: Buffer;
  /** The same bytes gzipped, for browsers that accept it (about 40% of the size). */
  gzip: Buffer;
}

export interface DashboardAssets {
  html: string;
  assets: DashboardAsset[];
  buildMs: number;
}

/** The dashboard sources: `dashboard/` at the project root, from src/http or from dist/src/http. */
export function dashboardSourceDir(): string {
  const candidates = [
    path.resolve(__dirname, '../../dashboard'),
    path.resolve(__dirname, '../../../dashboard'),
  ];
  const found = candidates.find((dir) => existsSync(path.join(dir, 'main.ts')));
  if (!found) throw new Error(`dashboard sources not found (looked in ${candidates.join(', ')})`);
  return found;
}

/** Bundles dashboard/main.ts (and the CSS it imports) into one minified JS and one CSS file. */
export async function buildDashboardAssets(sourceDir = dashboardSourceDir()): Promise<DashboardAssets> {
  const started = performance.now();
  const result = await build({
    entryPoints: [path.join(sourceDir, 'main.ts')],
    tsconfig: path.join(sourceDir, 'tsconfig.json'),
    bundle: true,
    minify: true,
    format: 'iife',
    platform: 'browser',
    target: ['chrome111', 'firefox115', 'safari16.4', 'edge111'],
    outdir: path.join(sourceDir, 'out'), // never written: write is false
    entryNames: 'app-[hash]',
    write: false,
    charset: 'utf8',
    legalComments: 'eof',
    logLevel: 'silent',
  });
  const assets = result.outputFiles.map((file): DashboardAsset => {
    const name = path.basename(file.path);
    const contentType = name.endsWith('.css') ? 'text/css; charset=utf-8' : 'text/javascript; charset=utf-8';
    const body = Buffer.from(file.contents);
    return { name, contentType, body, gzip: gzipSync(body, { level: 9 }) };
  });
  const js = assets.find((a) => a.name.endsWith('.js'));
  const css = assets.find((a) => a.name.endsWith('.css'));
  if (!js || !css) throw new Error('the dashboard bundle lacks its JS or CSS file');
  const template = await readFile(path.join(sourceDir, 'index.html'), 'utf8');
  // Relative URLs, so that the page also works behind a reverse proxy that adds a path prefix.
  const html = template
    .replace('__APP_JS__', `dashboard/assets/${js.name}`)
    .replace('__APP_CSS__', `dashboard/assets/${css.name}`);
  return { html, assets: [js, css], buildMs: Math.round(performance.now() - started) };
}

/** The page may load only its own bundle and talk only to this server. */
const PAGE_HEADERS = {
  'content-security-policy': [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; '),
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

// The bundle depends only on files in the repository: build it once per process, not per server.
let cached: Promise<DashboardAssets> | undefined;

export async function registerDashboard(app: FastifyInstance): Promise<void> {
  cached ??= buildDashboardAssets();
  let assets: DashboardAssets | undefined;
  try {
    assets = await cached;
    const sizes = Object.fromEntries(assets.assets.map((a) => [a.name, a.body.length]));
    app.log.debug({ buildMs: assets.buildMs, sizes }, 'dashboard assets built');
  } catch (err) {
    cached = undefined; // the next server in this process tries again
    app.log.error({ err }, 'the dashboard could not be built; GET /dashboard answers 503');
  }

  const unavailable = (reply: FastifyReply) =>
    reply
      .code(503)
      .type('text/plain; charset=utf-8')
      .send('The dashboard could not be built; see the server log.');

  app.get('/dashboard', async (_request, reply) => {
    if (!assets) return unavailable(reply);
    return reply.headers(PAGE_HEADERS).type('text/html; charset=utf-8').send(assets.html);
  });

  // `/dashboard/` would resolve the page's relative URLs one level too deep.
  app.get('/dashboard/', async (_request, reply) => reply.redirect('../dashboard', 308));

  app.get<{ Params: { name: string } }>('/dashboard/assets/:name', async (request, reply) => {
    const asset = assets?.assets.find((a) => a.name === request.params.name);
    if (!asset) return reply.code(404).type('text/plain; charset=utf-8').send('Not found');
    // Compressed once at build time: the server has no compression of its own.
    const gzip = /\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''));
    reply.headers({
      'cache-control': 'public, max-age=31536000, immutable',
      'x-content-type-options': 'nosniff',
      vary: 'accept-encoding',
    });
    if (gzip) reply.header('content-encoding', 'gzip');
    return reply.type(asset.contentType).send(gzip ? asset.gzip : asset.body);
  });
}
