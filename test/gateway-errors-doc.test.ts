/**
 * The error registry and docs/protocol.md agree: every error code, close code and op is
 * documented, and the doc names no code the registry lacks.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { closeCodes, errorCodes } from '../gateway/errors.ts';
import { ops } from '../gateway/protocol.ts';

const doc = readFileSync(new URL('../docs/protocol.md', import.meta.url), 'utf8');

describe('protocol documentation', () => {
  it('documents every error code with its HTTP status', () => {
    for (const [code, { http }] of Object.entries(errorCodes)) {
      assert.match(doc, new RegExp(`\\| \`${code}\` \\| ${http} \\|`), `${code} is not in the error table of docs/protocol.md`);
    }
  });

  it('lists no error code the registry does not know', () => {
    const table = doc.slice(doc.indexOf('## Error codes'), doc.indexOf('## Close codes'));
    const documented = [...table.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]);
    assert.deepEqual(documented.sort(), Object.keys(errorCodes).sort());
  });

  it('documents every close code', () => {
    const table = doc.slice(doc.indexOf('## Close codes'), doc.indexOf('## Tokens'));
    const documented = [...table.matchAll(/^\| (\d{4}) \|/gm)].map((m) => Number(m[1]));
    assert.deepEqual(documented.sort(), Object.values(closeCodes).map((c) => c.code).sort());
  });

  it('documents every op', () => {
    for (const op of ops) assert.match(doc, new RegExp(`^### .*\\b${op}\\b`, 'm'), `op ${op} has no section`);
  });
});
