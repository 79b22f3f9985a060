/**
 * Turns what the SDKs throw into ProviderErrors: aborted (our own cancel), timeout, network,
 * http (with the status), so the executor decides fallback and retryability in one place.
 */
import { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import { ApiError as GeminiApiError } from '@google/genai';
import { ProviderError, retryableStatus } from '../types.ts';

export function toProviderError(error: unknown, signal: AbortSignal): ProviderError {
  // Checked first: an SDK may end an aborted stream quietly, which reads as an incomplete one.
  if (signal.aborted || error instanceof APIUserAbortError || (error as Error | null)?.name === 'AbortError') {
    return new ProviderError('aborted', 'request aborted', { retryable: false, cause: error });
  }
  if (error instanceof ProviderError) return error;
  if (error instanceof APIConnectionTimeoutError) return new ProviderError('timeout', 'upstream timed out', { retryable: true, cause: error });
  if (error instanceof APIConnectionError) return new ProviderError('network', 'upstream connection failed', { retryable: true, cause: error });
  const status = error instanceof APIError || error instanceof GeminiApiError ? (error as { status?: number }).status : undefined;
  if (typeof status === 'number') return new ProviderError('http', `upstream answered HTTP ${status}`, { status, retryable: retryableStatus(status), cause: error });
  // fetch failures (reset, refused, cut body) surface as TypeError or a stream error.
  return new ProviderError('network', 'upstream connection failed', { retryable: true, cause: error });
}

export function incomplete(): ProviderError {
  return new ProviderError('incomplete', 'the upstream stream ended before its final event', { retryable: true });
}
