/** RFC 3339 with second precision, as Kubernetes metadata timestamps are written. */
export function timestamp(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
