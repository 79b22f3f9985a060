/**
 * Runs a command asynchronously and collects its output. Asynchronous on purpose: tests often
 * serve the API the command talks to from this same process (the emulator), and a synchronous
 * spawn would block it and deadlock.
 */
import { spawn } from 'node:child_process';

export interface CommandResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export interface RunCommandOptions {
  env?: NodeJS.ProcessEnv;
  /** Killed after this long (its status is then null). */
  timeoutMs: number;
  /** Written to its stdin, which is then closed; without it stdin is closed at once. */
  input?: string;
}

export function runCommand(command: string, args: string[], options: RunCommandOptions): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { timeout: options.timeoutMs, env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (status) => resolve({ status, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}
