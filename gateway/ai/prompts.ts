/**
 * What each task asks of a remote model, and how a short task's answer is read back. Prompts
 * are built here only; they are never logged.
 */
import { sentimentLabel, type ModerationResult, type SentimentResult } from './text-analysis.ts';
import type { AiTask, ChatMessage } from './types.ts';

/** One room message given to a model as context (from the room's history). */
export interface ContextLine {
  user: string;
  text: string;
}

const systemPrompts: Record<AiTask, string> = {
  chat: 'You are a helpful teaching assistant in a live classroom. Answer concisely.',
  summarize: 'Summarise the following classroom discussion in a few sentences. Mention open questions.',
  sentiment: 'Rate the sentiment of the text. Reply with JSON only: {"score": number from -1 to 1}.',
  moderate: 'Decide whether the text breaks a classroom code of conduct (harassment, hate, sexual content, violence, profanity). Reply with JSON only: {"flagged": boolean, "categories": string[]}.',
};

export function transcript(lines: readonly ContextLine[]): string {
  return lines.map((line) => `${line.user}: ${line.text}`).join('\n');
}

export function buildMessages(task: AiTask, text: string, context: readonly ContextLine[] = []): ChatMessage[] {
  const messages: ChatMessage[] = [{ role: 'system', content: systemPrompts[task] }];
  if (task === 'chat' && context.length > 0) messages.push({ role: 'system', content: `Recent messages in the room:\n${transcript(context)}` });
  messages.push({ role: 'user', content: text });
  return messages;
}

/** The first JSON object in a model's answer, or undefined. */
function jsonObject(text: string): Record<string, unknown> | undefined {
  const start = text.indexOf('{');
  const end = text.lastIndexOf('}');
  if (start < 0 || end <= start) return undefined;
  try {
    const value = JSON.parse(text.slice(start, end + 1)) as unknown;
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined; // not JSON: the caller reports the answer as unreadable
  }
}

export function readSentiment(text: string): SentimentResult | undefined {
  const score = jsonObject(text)?.score;
  if (typeof score !== 'number' || !Number.isFinite(score)) return undefined;
  const clamped = Math.max(-1, Math.min(1, score));
  return { score: clamped, label: sentimentLabel(clamped) };
}

export function readModeration(text: string): ModerationResult | undefined {
  const value = jsonObject(text);
  if (typeof value?.flagged !== 'boolean') return undefined;
  const categories = Array.isArray(value.categories) ? value.categories.filter((c): c is string => typeof c === 'string').slice(0, 16) : [];
  return { flagged: value.flagged, categories };
}

/** A short task's structured result read from the whole answer; undefined for chat and summaries. */
export function readResult(task: AiTask, text: string): SentimentResult | ModerationResult | undefined {
  if (task === 'sentiment') return readSentiment(text);
  if (task === 'moderate') return readModeration(text);
  return undefined;
}
