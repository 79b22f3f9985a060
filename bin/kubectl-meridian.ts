#!/usr/bin/env node
/**
 * `kubectl meridian`: kubectl runs this file when it finds `kubectl-meridian` on PATH
 * (docs/kubectl-plugin.md). The commands live in kubectl/.
 */
// First, so that a Node.js older than package.json's engines.node stops here with one clear line;
// the commands are imported only after it (a static import would load them before it runs).
import '../scripts/check-node.cjs';

const { main } = (await import('../kubectl/main.ts')) as typeof import('../kubectl/main.ts');
process.exitCode = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, now: () => new Date() });
