/**
 * Freezes an object and everything reachable from it, so that a shared value (a parsed
 * configuration, a stored object handed to several readers) cannot be changed by one of them.
 * Already-frozen parts are skipped, which also stops at cycles.
 */
export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
