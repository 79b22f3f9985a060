/**
 * Time rules of delivery: quiet hours in the user's own time zone, retry backoff with jitter,
 * and the per-user rate window. Pure functions of an injected clock and random source.
 */
import type { QuietHours } from './types.ts';

const minuteMs = 60_000;
const dayMinutes = 24 * 60;

function minutesOf(clock: string): number {
  const [h, m] = clock.split(':').map(Number);
  return h * 60 + m;
}

/** Milliseconds into the current local minute-of-day in `timeZone`. */
function localTime(now: number, timeZone: string): { minute: number; msIntoMinute: number } {
  const parts = new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(new Date(now));
  const hour = Number(parts.find((p) => p.type === 'hour')!.value);
  const minute = Number(parts.find((p) => p.type === 'minute')!.value);
  return { minute: hour * 60 + minute, msIntoMinute: now % minuteMs };
}

/**
 * When quiet hours are on at `now`, the time they end (ms since the epoch); otherwise
 * undefined. A window may span midnight (22:00 → 07:00). Across a daylight-saving change the
 * end can be off by the change (an hour), never more.
 */
export function quietUntil(quiet: QuietHours | undefined, now: number): number | undefined {
  if (!quiet) return undefined;
  const start = minutesOf(quiet.start);
  const end = minutesOf(quiet.end);
  if (start === end) return undefined;
  const { minute, msIntoMinute } = localTime(now, quiet.timeZone);
  const inside = start < end ? minute >= start && minute < end : minute >= start || minute < end;
  if (!inside) return undefined;
  const minutesLeft = (end - minute + dayMinutes) % dayMinutes;
  return now - msIntoMinute + minutesLeft * minuteMs;
}

/** Exponential backoff with "equal jitter": half the step fixed, half random, so retries spread. */
export function backoffMs(attempt: number, initialMs: number, maxMs: number, random: () => number): number {
  const step = Math.min(maxMs, initialMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(step / 2 + (random() * step) / 2);
}

/** Start of the fixed rate window holding `now`. */
export function windowStart(now: number, windowMs: number): number {
  return now - (now % windowMs);
}
