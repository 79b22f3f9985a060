/**
 * The operator's own V8 flags (operator/heap-flags.ts): each is applied unless the command line
 * or NODE_OPTIONS chose that setting. (Their effect on memory is measured by `npm run bench --
 * operator`, not asserted here: whether V8 has pooled pages left at a given moment depends on
 * which collections happened to run.)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OPERATOR_V8_FLAGS, applyOperatorHeapFlags } from '../operator/heap-flags.ts';

test('each operator flag is applied unless the command line or NODE_OPTIONS chose that setting', () => {
  assert.deepEqual(applyOperatorHeapFlags([], ''), [...OPERATOR_V8_FLAGS]);
  assert.deepEqual(applyOperatorHeapFlags(['--max-semi-space-size=16'], ''), ['--optimize-for-size'], 'a young generation chosen: only that flag is left out');
  assert.deepEqual(applyOperatorHeapFlags([], '--no-optimize-for-size'), ['--semi-space-growth-factor=1']);
  assert.deepEqual(applyOperatorHeapFlags(['--semi_space_growth_factor=2'], '--optimize-for-size'), [], 'underscores name the same flag');
  assert.deepEqual(applyOperatorHeapFlags(['--optimize-for-size-extra'], ''), [...OPERATOR_V8_FLAGS], 'a longer flag name is another flag');
});

