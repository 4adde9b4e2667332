#!/usr/bin/env node
// Offline solc for forge: answers `--version` and `--standard-json` with the
// pinned npm solcjs build. Imports not inlined by the caller are read from disk.
//
// solcjs hands its input string to the WebAssembly compiler on the wasm *stack* (4 bytes per
// character, and the stack is 5 MiB): a standard-JSON input of more than ~1.3 M characters (every
// contract and test of a fresh clone's first `forge build`, sources inlined) crashes it with
// "memory access out of bounds". So the sources' contents are taken out of the input and served
// through the import callback (which copies them to the heap); the input itself stays small.
'use strict';
const fs = require('fs');
const path = require('path');
const solc = require(path.join(__dirname, '..', '..', 'node_modules', 'solc'));

const args = process.argv.slice(2);
if (args.includes('--version')) {
  process.stdout.write('solc, the solidity compiler commandline interface\nVersion: ' + solc.version() + '\n');
} else if (!args.includes('--standard-json')) {
  process.stderr.write('solc shim: only --version and --standard-json are supported, got: ' + args.join(' ') + '\n');
  process.exitCode = 2;
} else {
  const roots = [process.cwd()];
  for (let i = 0; i < args.length; i++) {
    if ((args[i] === '--base-path' || args[i] === '--include-path') && args[i + 1]) roots.push(args[i + 1]);
    if (args[i] === '--allow-paths' && args[i + 1]) roots.push(...args[i + 1].split(','));
  }
  const input = JSON.parse(fs.readFileSync(0, 'utf8'));
  const inlined = {};
  for (const [name, source] of Object.entries(input.sources || {})) {
    if (typeof source.content === 'string') {
      inlined[name] = source.content;
      input.sources[name] = { urls: [name] };
    }
  }
  const findImports = (p) => {
    if (Object.prototype.hasOwnProperty.call(inlined, p)) return { contents: inlined[p] };
    for (const r of roots) {
      const full = path.isAbsolute(p) ? p : path.join(r, p);
      try { return { contents: fs.readFileSync(full, 'utf8') }; } catch (_) { /* next root */ }
    }
    return { error: 'File not found: ' + p };
  };
  // No process.exit() after this write: a piped stdout is written asynchronously.
  process.stdout.write(solc.compile(JSON.stringify(input), { import: findImports }));
}
