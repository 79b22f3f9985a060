/** Builds the configured providers; only wiring lives here. */
import type { AiConfig } from '../config.ts';
import type { AiProvider } from '../types.ts';
import { GeminiProvider } from './gemini.ts';
import { LocalProvider } from './local.ts';
import { OpenAiProvider } from './openai.ts';

export function createProviders(config: AiConfig): AiProvider[] {
  return config.providers.map((provider) => {
    switch (provider.name) {
      case 'openai':
        return new OpenAiProvider(provider, { headersTimeoutMs: config.firstTokenTimeoutMs });
      case 'gemini':
        return new GeminiProvider(provider);
      case 'local':
        return new LocalProvider(provider.model);
    }
  });
}

export { GeminiProvider, LocalProvider, OpenAiProvider };
