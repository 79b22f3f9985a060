/**
 * Email over SMTP through nodemailer (a pooled transport): a text part and an HTML part, the
 * notification id in `X-Meridian-Notification`, and a Message-ID derived from the idempotency
 * key, so a retried message is recognisably the same one.
 *
 * SMTP replies decide: 4xx is temporary (retry), 5xx permanent (dead letter); no reply at all
 * (refused, timed out) retries.
 */
import nodemailer, { type Transporter } from 'nodemailer';
import { createHash } from 'node:crypto';
import type { Notification } from '../types.ts';
import type { ChannelMessage, SendOutcome } from './types.ts';

export interface EmailSettings {
  /** smtp://host:port or smtps://host:port. */
  smtpUrl: string;
  user?: string;
  /** Secret: never logged. */
  password?: string;
  from: string;
  timeoutMs: number;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function textOf(n: Notification): string {
  return n.link ? `${n.body}\n\n${n.link}\n` : `${n.body}\n`;
}

function htmlOf(n: Notification): string {
  const link = n.link ? `<p><a href="${escapeHtml(n.link)}">${escapeHtml(n.link)}</a></p>` : '';
  return `<h2>${escapeHtml(n.title)}</h2><p>${escapeHtml(n.body)}</p>${link}`;
}

export function emailContent(message: ChannelMessage): { subject: string; text: string; html: string } {
  const items = message.digest;
  if (!items) return { subject: message.n.title, text: textOf(message.n), html: htmlOf(message.n) };
  return {
    subject: message.n.title,
    text: items.map((n) => `* ${n.title}\n  ${textOf(n).trimEnd().replace(/\n/g, '\n  ')}`).join('\n\n') + '\n',
    html: `<ul>${items.map((n) => `<li>${htmlOf(n)}</li>`).join('')}</ul>`,
  };
}

export class EmailChannel {
  readonly #transport: Transporter;
  readonly #settings: EmailSettings;

  constructor(settings: EmailSettings) {
    this.#settings = settings;
    this.#transport = nodemailer.createTransport({
      url: settings.smtpUrl,
      pool: true,
      auth: settings.user ? { user: settings.user, pass: settings.password } : undefined,
      connectionTimeout: settings.timeoutMs,
      greetingTimeout: settings.timeoutMs,
      socketTimeout: settings.timeoutMs,
      logger: false,
    } as Parameters<typeof nodemailer.createTransport>[0]);
  }

  async send(address: string, message: ChannelMessage): Promise<SendOutcome> {
    const { subject, text, html } = emailContent(message);
    const digestOf = createHash('sha256').update(message.idempotencyKey).digest('hex').slice(0, 32);
    try {
      await this.#transport.sendMail({
        from: this.#settings.from,
        to: address,
        subject,
        text,
        html,
        messageId: `<${digestOf}@meridian.notify>`,
        // The send time in milliseconds (the Date header has seconds only).
        headers: { 'X-Meridian-Notification': message.n.id, 'X-Meridian-Sent-At': String(message.n.ts) },
      });
      return { kind: 'delivered' };
    } catch (error) {
      const code = (error as { responseCode?: number }).responseCode;
      if (code !== undefined && code >= 500) return { kind: 'failed', reason: `smtp answered ${code}` };
      if (code !== undefined) return { kind: 'retry', reason: `smtp answered ${code}` };
      return { kind: 'retry', reason: `smtp unreachable: ${(error as { code?: string }).code ?? 'error'}` };
    }
  }

  close(): void {
    this.#transport.close();
  }
}
