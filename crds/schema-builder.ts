/**
 * A small builder for OpenAPI v3 structural schemas (apiextensions.k8s.io/v1 JSONSchemaProps)
 * that also carries the TypeScript type of the value each schema accepts, so one source gives
 * both the CRD schema and, through `TypeOf`, a type that crds/types.ts is checked against.
 *
 * Every builder takes a description first (it is what `kubectl explain` prints), and every
 * number takes both bounds: a field without them cannot be written.
 */

/** One schema node, in the shape the CRD stores it. */
export interface JSONSchemaProps {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  description?: string;
  properties?: Record<string, JSONSchemaProps>;
  required?: string[];
  additionalProperties?: JSONSchemaProps;
  items?: JSONSchemaProps;
  enum?: (string | number)[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  minItems?: number;
  maxItems?: number;
  minProperties?: number;
  maxProperties?: number;
  anyOf?: JSONSchemaProps[];
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-int-or-string'?: true;
  'x-kubernetes-validations'?: CelRule[];
}

/** A CEL rule, enforced by real clusters and (in the forms sandbox/apiserver/cel.ts evaluates) by the sandbox emulator. */
export interface CelRule {
  rule: string;
  message: string;
  reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
  fieldPath?: string;
}

declare const valueType: unique symbol;

/** A schema node plus, at the type level only, the TypeScript type of the values it accepts. */
export interface Schema<T> {
  readonly node: JSONSchemaProps;
  readonly [valueType]?: T;
}

export type TypeOf<S> = S extends Schema<infer T> ? T : never;

type Flatten<T> = { [K in keyof T]: T[K] };
type Properties = Record<string, Schema<unknown>>;
type ObjectOf<P extends Properties, R extends keyof P> = Flatten<
  { [K in R]: TypeOf<P[K]> } & { [K in Exclude<keyof P, R>]?: TypeOf<P[K]> }
>;

function schema<T>(node: JSONSchemaProps): Schema<T> {
  return { node };
}

function withoutUndefined(node: JSONSchemaProps): JSONSchemaProps {
  return Object.fromEntries(Object.entries(node).filter(([, value]) => value !== undefined)) as JSONSchemaProps;
}

export interface StringOptions {
  pattern?: string;
  minLength?: number;
  maxLength: number;
  format?: 'date-time' | 'uri';
  default?: string;
}

export function string(description: string, options: StringOptions): Schema<string> {
  return schema(withoutUndefined({ type: 'string', description, ...options }));
}

export function enumOf<const V extends readonly string[]>(description: string, values: V, options: { default?: V[number] } = {}): Schema<V[number]> {
  return schema(withoutUndefined({ type: 'string', description, enum: [...values], default: options.default }));
}

export interface NumberOptions {
  minimum: number;
  maximum: number;
  default?: number;
}

export function integer(description: string, options: NumberOptions & { format?: 'int32' | 'int64' }): Schema<number> {
  const format = options.format ?? (options.maximum > 2 ** 31 - 1 ? 'int64' : 'int32');
  return schema(withoutUndefined({ type: 'integer', description, ...options, format }));
}

export function number(description: string, options: NumberOptions): Schema<number> {
  return schema(withoutUndefined({ type: 'number', description, ...options }));
}

export function boolean(description: string, options: { default?: boolean } = {}): Schema<boolean> {
  return schema(withoutUndefined({ type: 'boolean', description, default: options.default }));
}

/** A Kubernetes quantity such as `500m`, `1Gi` or `2`: an integer or a string matching `pattern`. */
export function intOrString(description: string, options: { pattern: string }): Schema<number | string> {
  return schema({
    description,
    anyOf: [{ type: 'integer' }, { type: 'string' }],
    pattern: options.pattern,
    'x-kubernetes-int-or-string': true,
  });
}

export interface ObjectOptions<R> {
  required?: readonly R[];
  validations?: CelRule[];
  default?: Record<string, unknown>;
}

export function object<P extends Properties, R extends keyof P & string = never>(
  description: string,
  properties: P,
  options: ObjectOptions<R> = {},
): Schema<ObjectOf<P, R>> {
  const props = Object.fromEntries(Object.entries(properties).map(([name, child]) => [name, child.node]));
  return schema(
    withoutUndefined({
      type: 'object',
      description,
      properties: props,
      required: options.required && options.required.length > 0 ? [...options.required] : undefined,
      default: options.default,
      'x-kubernetes-validations': options.validations,
    }),
  );
}

/** A string-keyed map (`additionalProperties`), such as resource requests. */
export function mapOf<T>(description: string, values: Schema<T>, options: { maxProperties: number }): Schema<Record<string, T>> {
  return schema({ type: 'object', description, additionalProperties: values.node, maxProperties: options.maxProperties });
}

export interface ArrayOptions {
  minItems?: number;
  maxItems: number;
}

export function array<T>(description: string, items: Schema<T>, options: ArrayOptions & { listType?: 'atomic' | 'set' }): Schema<T[]> {
  return arraySchema(description, items, options, { 'x-kubernetes-list-type': options.listType ?? 'atomic' });
}

/** An array node with its bounds and the list-type fields server-side apply merges by. */
function arraySchema<T>(description: string, items: Schema<T>, options: ArrayOptions, listFields: Record<string, unknown>): Schema<T[]> {
  return schema(
    withoutUndefined({
      type: 'array',
      description,
      items: items.node,
      minItems: options.minItems,
      maxItems: options.maxItems,
      ...listFields,
    }),
  );
}

/**
 * A list whose items are identified by `key` (`x-kubernetes-list-type: map`): server-side apply
 * merges items by key, and two items with the same key are rejected. The key must be required.
 */
export function listMap<T extends Record<K, unknown>, K extends keyof T & string>(
  description: string,
  items: Schema<T>,
  key: K,
  options: ArrayOptions & { validations?: CelRule[] },
): Schema<T[]> {
  if (!items.node.required?.includes(key)) {
    throw new Error(`listMap key '${key}' must be a required property of its items`);
  }
  return arraySchema(description, items, options, {
    'x-kubernetes-list-type': 'map',
    'x-kubernetes-list-map-keys': [key],
    'x-kubernetes-validations': options.validations,
  });
}

/** Deeply normalised form of a type, so that two spellings of one shape compare equal. */
export type Normalize<T> = T extends readonly (infer U)[] ? Normalize<U>[] : T extends object ? { [K in keyof T]: Normalize<T[K]> } : T;

/** `true` only when A and B are the same type, optional markers and literal unions included. */
export type Same<A, B> = (<G>() => G extends Normalize<A> ? 1 : 2) extends <G>() => G extends Normalize<B> ? 1 : 2 ? true : false;
