/**
 * Cross-field checks of `notify.*` at start-up: a channel is configured completely or not at
 * all, and the default channel lists name known channels. Messages never show secret values.
 */
import { channelList } from './settings.ts';
import type { NotifyConfig } from './config-fields.ts';

export type { NotifyConfig } from './config-fields.ts';

export function checkNotifyConfig(notify: NotifyConfig, fail: (message: string) => Error): void {
  const { push, email, webhook } = notify;
  const pushSet = [push.vapidPublicKey, push.vapidPrivateKey, push.subject].filter(Boolean).length;
  if (pushSet !== 0 && pushSet !== 3) throw fail('notify.push.vapidPublicKey, notify.push.vapidPrivateKey and notify.push.subject must be set together');
  if (push.subject && !/^(mailto:|https:\/\/)/.test(push.subject)) throw fail(`notify.push.subject must be a mailto: or https: URL, got ${JSON.stringify(push.subject)}`);
  if (email.smtpUrl && !email.from) throw fail('notify.email.from is required with notify.email.smtpUrl');
  if (Boolean(webhook.url) !== Boolean(webhook.secret)) throw fail('notify.webhook.url and notify.webhook.secret must be set together');
  // The lease on a delivery lasts claimIdleMs: a send still running when it ran out could be
  // started again by another pod.
  const configured = [push.vapidPublicKey && (['push', push.timeoutMs] as const), email.smtpUrl && (['email', email.timeoutMs] as const), webhook.url && (['webhook', webhook.timeoutMs] as const)];
  for (const [name, timeoutMs] of configured.filter((c) => !!c)) {
    if (timeoutMs >= notify.claimIdleMs) throw fail(`notify.${name}.timeoutMs (${timeoutMs}) must be below notify.claimIdleMs (${notify.claimIdleMs})`);
  }
  if (notify.retryInitialMs > notify.retryMaxMs) throw fail(`notify.retryInitialMs must not exceed notify.retryMaxMs (${notify.retryMaxMs})`);
  for (const [urgency, list] of Object.entries(notify.defaultChannels)) {
    try {
      channelList(list);
    } catch (error) {
      throw fail(`notify.defaultChannels.${urgency}: ${(error as Error).message}`);
    }
  }
}
