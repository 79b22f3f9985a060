/**
 * The `input` of an `ai` frame, per task, checked against the limits; every refusal is a
 * BAD_REQUEST (or FORBIDDEN for a room the token does not allow) naming the field.
 *
 *   chat       {prompt, room?, contextMessages?}   room's last N messages as context
 *   summarize  {room, messages?}                    a summary of the room's history
 *   sentiment  {text}
 *   moderate   {text}
 */
import { gatewayError } from '../errors.ts';
import { validateRoom } from '../rooms.ts';
import type { AiConfig } from './config.ts';
import { aiTasks, type AiTask } from './types.ts';

export interface AiInput {
  task: AiTask;
  /** The prompt or text (empty for summarize: the room's history is the text). */
  text: string;
  /** Room whose history is read (chat context, summarize). */
  room?: string;
  /** Messages read from the room's history. */
  historyMessages: number;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function text(input: Record<string, unknown>, field: string, maxChars: number): string {
  const value = input[field];
  if (typeof value !== 'string' || value.trim().length === 0) throw gatewayError('BAD_REQUEST', `input.${field} must be a non-empty string`);
  if (value.length > maxChars) throw gatewayError('BAD_REQUEST', `input.${field} must be at most ${maxChars} characters (ai.maxInputChars)`);
  return value;
}

function count(input: Record<string, unknown>, field: string, max: number, fallback: number): number {
  const value = input[field];
  if (value === undefined) return Math.min(fallback, max);
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > max) throw gatewayError('BAD_REQUEST', `input.${field} must be an integer between 0 and ${max}`);
  return value;
}

export function parseAiInput(task: string, input: unknown, limits: { config: AiConfig; maxRoomNameLength: number; maxHistory: number }, allows: (room: string) => boolean): AiInput {
  if (!(aiTasks as readonly string[]).includes(task)) throw gatewayError('BAD_REQUEST', `unknown task ${JSON.stringify(task)}; expected one of ${aiTasks.join(', ')}`);
  if (!isObject(input)) throw gatewayError('BAD_REQUEST', 'input must be an object');
  const { config } = limits;
  const room = (field: string) => {
    const name = validateRoom(input[field], limits.maxRoomNameLength, `input.${field}`);
    if (!allows(name)) throw gatewayError('FORBIDDEN', `the token does not allow room ${name}`);
    return name;
  };
  switch (task as AiTask) {
    case 'chat': {
      const prompt = text(input, 'prompt', config.maxInputChars);
      if (input.room === undefined) return { task: 'chat', text: prompt, historyMessages: 0 };
      return { task: 'chat', text: prompt, room: room('room'), historyMessages: count(input, 'contextMessages', Math.min(config.maxContextMessages, limits.maxHistory), 20) };
    }
    case 'summarize':
      return { task: 'summarize', text: '', room: room('room'), historyMessages: Math.max(1, count(input, 'messages', Math.min(config.summarizeMessages, limits.maxHistory), config.summarizeMessages)) };
    case 'sentiment':
    case 'moderate':
      return { task: task as AiTask, text: text(input, 'text', config.maxInputChars), historyMessages: 0 };
  }
}

/** The text of a room message's data: a string, or the string fields of an object (the `text` field first). */
export function messageText(data: unknown, maxChars: number): string {
  if (typeof data === 'string') return data.slice(0, maxChars);
  if (!isObject(data)) return '';
  const strings = Object.entries(data)
    .sort(([a], [b]) => (a === 'text' ? -1 : b === 'text' ? 1 : 0))
    .flatMap(([, value]) => (typeof value === 'string' ? [value] : []));
  return strings.join(' ').slice(0, maxChars);
}
