#!/usr/bin/env node
// Offline solc for forge: answers `--version` and `--standard-json` with the
// pinned npm solcjs build. Imports not inlined by the caller are read from disk.
'use strict';
const fs = require('fs');
const path = require('path');
const solc = require(path.join(__dirname, '..', '..', 'node_modules', 'solc'));

const args = process.argv.slice(2);
if (args.includes('--version')) {
  process.stdout.write('solc, the solidity compiler commandline interface\nVersion: ' + solc.version() + '\n');
  process.exit(0);
}
if (!args.includes('--standard-json')) {
  process.stderr.write('solc shim: only --version and --standard-json are supported, got: ' + args.join(' ') + '\n');
  process.exit(2);
}
const roots = [process.cwd()];
for (let i = 0; i < args.length; i++) {
  if ((args[i] === '--base-path' || args[i] === '--include-path') && args[i + 1]) roots.push(args[i + 1]);
  if (args[i] === '--allow-paths' && args[i + 1]) roots.push(...args[i + 1].split(','));
}
function findImports(p) {
  for (const r of roots) {
    const full = path.isAbsolute(p) ? p : path.join(r, p);
    try { return { contents: fs.readFileSync(full, 'utf8') }; } catch (_) { /* next root */ }
  }
  return { error: 'File not found: ' + p };
}
const input = fs.readFileSync(0, 'utf8');
process.stdout.write(solc.compile(input, { import: findImports }));
