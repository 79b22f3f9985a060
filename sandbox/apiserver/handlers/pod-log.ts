/**
 * The pods/log subresource (`kubectl logs`): GET /api/v1/namespaces/<ns>/pods/<name>/log with
 * `container`, `previous`, `tailLines` and `limitBytes`, answered from the log file the runner
 * keeps for the container's current (or previous) run. Pods whose runner keeps no logs (the
 * delayed-ready runner) answer 400, as a real API server does for a container that never ran.
 * `follow` is not supported: the log as it is now is sent and the response ends.
 */
import { readFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { ApiError, badRequest } from '../errors.ts';

export async function sendPodLog(file: string | undefined, podName: string, container: string, query: URLSearchParams, res: ServerResponse): Promise<void> {
  const previous = query.get('previous') === 'true';
  const missing = () =>
    badRequest(previous ? `previous terminated container "${container}" in pod "${podName}" not found` : `container "${container}" in pod "${podName}" has no log in the sandbox (its runner keeps none, or it has not started)`);
  if (!file) throw missing();
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw missing();
    throw new ApiError(500, 'InternalError', `reading the log of pod "${podName}" failed: ${(error as Error).message}`);
  }
  const tailLines = query.get('tailLines');
  if (tailLines !== null) {
    const n = Number(tailLines);
    if (!Number.isInteger(n) || n < 0) throw badRequest(`tailLines must be a non-negative integer; got ${JSON.stringify(tailLines)}`);
    const lines = text.split('\n');
    if (lines.at(-1) === '') lines.pop();
    text = n === 0 ? '' : `${lines.slice(-n).join('\n')}\n`;
  }
  let body = Buffer.from(text);
  const limitBytes = query.get('limitBytes');
  if (limitBytes !== null) {
    const n = Number(limitBytes);
    if (!Number.isInteger(n) || n < 1) throw badRequest(`limitBytes must be a positive integer; got ${JSON.stringify(limitBytes)}`);
    body = body.subarray(0, n);
  }
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': body.length, 'Cache-Control': 'no-cache, private' });
  res.end(body);
}
