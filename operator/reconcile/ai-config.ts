/**
 * A RealtimeCluster's `spec.ai` as the gateway's `ai` block (gateway/ai/config.ts): the same
 * fields, with each provider's `apiKeySecretRef` replaced by `apiKeyEnv`, the variable the
 * region Secret feeds the key into. Defaults the schema gives are written out, so the gateway
 * and the CRD cannot drift apart on them.
 */
import { DEFAULTS } from '../../crds/schema.ts';
import type { AiSpec } from '../../crds/types.ts';

/** The environment variable holding a provider's API key in the gateway pod. */
export function aiApiKeyEnv(provider: string): string {
  return `MERIDIAN_AI_${provider.toUpperCase()}_API_KEY`;
}

export function gatewayAiConfig(ai: AiSpec): Record<string, unknown> {
  const defined = <T extends Record<string, unknown>>(value: T) => Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined));
  return defined({
    strategy: ai.strategy ?? DEFAULTS.aiStrategy,
    latencySloMs: ai.latencySloMs ?? DEFAULTS.latencySloMs,
    dailyBudgetUsd: ai.dailyBudgetUsd ?? DEFAULTS.dailyBudgetUsd,
    userDailyBudgetUsd: ai.userDailyBudgetUsd,
    onBudgetExceeded: ai.onBudgetExceeded,
    providers: ai.providers?.map(({ apiKeySecretRef, ...provider }) => defined({ ...provider, apiKeyEnv: apiKeySecretRef ? aiApiKeyEnv(provider.name) : undefined })),
    moderation: ai.moderation?.map((rule) => defined({ ...rule })),
    sentiment: ai.sentiment?.rooms ? { rooms: ai.sentiment.rooms } : undefined,
  });
}
