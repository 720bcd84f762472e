// Bundles the dashboard: src/app.js and what it imports (Chart.js among them) into one
// minified script, next to index.html and app.css, in OUT_DIR. Nothing is fetched at run
// time: the page loads only these three files from the gateway.
//   node build.mjs OUT_DIR NODE_MODULES_DIR
import { copyFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const [out, nodeModules] = process.argv.slice(2);
if (!out || !nodeModules) {
  console.error('usage: node build.mjs OUT_DIR NODE_MODULES_DIR');
  process.exit(2);
}
const here = dirname(fileURLToPath(import.meta.url));
// The packages `npm ci` installed from package-lock.json, wherever that ran.
const { build } = createRequire(join(resolve(nodeModules), 'x.js'))('esbuild');
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(here, 'src', 'app.js')],
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['es2020'],
  outfile: join(out, 'app.js'),
  nodePaths: [resolve(nodeModules)],
  legalComments: 'linked',
  logLevel: 'warning',
});
for (const f of ['index.html', 'app.css']) copyFileSync(join(here, 'src', f), join(out, f));
// The page's weight, as the README reports it.
let raw = 0;
let gz = 0;
const sizes = {};
for (const f of ['index.html', 'app.css', 'app.js']) {
  const bytes = readFileSync(join(out, f));
  sizes[f] = { bytes: statSync(join(out, f)).size, gzip: gzipSync(bytes).length };
  raw += sizes[f].bytes;
  gz += sizes[f].gzip;
}
writeFileSync(join(out, 'sizes.json'), JSON.stringify({ total: raw, gzip: gz, files: sizes }, null, 1));
console.log(`dashboard: ${raw} bytes (${gz} gzipped) in ${out}`);
