/** What clients and backends see of a user's channel settings: push subscriptions without their keys. */
import type { UserSettings } from './types.ts';

export function settingsView(settings: UserSettings): Record<string, unknown> {
  return {
    email: settings.email ?? null,
    preferences: settings.preferences,
    push: settings.push.map((s) => ({ id: s.id, endpoint: s.endpoint, createdAt: s.createdAt })),
  };
}
