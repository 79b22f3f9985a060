/**
 * Two checks over a CRD schema, small enough to read in one sitting:
 *   structuralProblems: is the schema structural, as apiextensions.k8s.io/v1 requires?
 *   valueProblems: does a value satisfy the schema's plain keywords (types, enums, bounds,
 *     patterns, lengths, required, list-map keys, unknown fields)?
 * Used by tests to check the schema and the samples without an API server. CEL rules
 * (`x-kubernetes-validations`) are not evaluated here; the sandbox API emulator and
 * crds/validate.ts cover them.
 */
import type { JSONSchemaProps } from './schema-builder.ts';
import type { FieldProblem } from './validate.ts';

/** Keywords a structural schema may not use (apiextensions.k8s.io/v1). */
const FORBIDDEN_KEYWORDS = ['$ref', 'definitions', 'dependencies', 'patternProperties', 'additionalItems', 'uniqueItems'] as const;

/**
 * Problems that would make kube-apiserver reject the schema as non-structural: a node without
 * `type` (unless int-or-string), a forbidden keyword, `properties` beside `additionalProperties`,
 * a list-map key that is not required, or types inside `anyOf` other than int-or-string's.
 */
export function structuralProblems(node: JSONSchemaProps, path = '<root>'): string[] {
  const problems: string[] = [];
  const record = node as Record<string, unknown>;
  for (const keyword of FORBIDDEN_KEYWORDS) {
    if (keyword in record) problems.push(`${path}: keyword '${keyword}' is not allowed in a structural schema`);
  }
  if (!node.type && !node['x-kubernetes-int-or-string']) problems.push(`${path}: no type`);
  if (node.anyOf && !node['x-kubernetes-int-or-string']) problems.push(`${path}: anyOf is allowed here only for int-or-string`);
  if (node.properties && node.additionalProperties) problems.push(`${path}: properties and additionalProperties together`);
  if (node.type === 'array' && !node.items) problems.push(`${path}: array without items`);
  if (node['x-kubernetes-list-type'] === 'map') {
    for (const key of node['x-kubernetes-list-map-keys'] ?? []) {
      if (!node.items?.required?.includes(key)) problems.push(`${path}: list-map key '${key}' must be required`);
    }
  }
  for (const [name, child] of Object.entries(node.properties ?? {})) problems.push(...structuralProblems(child, `${path}.${name}`));
  if (node.additionalProperties) problems.push(...structuralProblems(node.additionalProperties, `${path}.*`));
  if (node.items) problems.push(...structuralProblems(node.items, `${path}[]`));
  return problems;
}

/** Every node of the schema with its path, depth first. */
export function* schemaNodes(node: JSONSchemaProps, path = ''): Generator<[string, JSONSchemaProps]> {
  yield [path || '<root>', node];
  for (const [name, child] of Object.entries(node.properties ?? {})) yield* schemaNodes(child, path ? `${path}.${name}` : name);
  if (node.additionalProperties) yield* schemaNodes(node.additionalProperties, `${path}.*`);
  if (node.items) yield* schemaNodes(node.items, `${path}[]`);
}

function typeOfValue(value: unknown): string {
  if (Array.isArray(value)) return 'array';
  if (value === null) return 'null';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function matchesType(node: JSONSchemaProps, value: unknown): boolean {
  const actual = typeOfValue(value);
  if (node['x-kubernetes-int-or-string']) return actual === 'integer' || actual === 'string';
  if (node.type === 'number') return actual === 'number' || actual === 'integer';
  return actual === node.type;
}

function childPath(path: string, name: string): string {
  return path ? `${path}.${name}` : name;
}

/** Problems of `value` against `node`, with field paths in kube-apiserver's style (`spec.regions[0].name`). */
export function valueProblems(node: JSONSchemaProps, value: unknown, path: string): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const invalid = (message: string) => problems.push({ field: path, reason: 'FieldValueInvalid', message });
  if (!matchesType(node, value)) {
    invalid(`must be of type ${node['x-kubernetes-int-or-string'] ? 'int-or-string' : node.type}, not ${typeOfValue(value)}`);
    return problems;
  }
  if (node.enum && !node.enum.includes(value as string | number)) {
    problems.push({ field: path, reason: 'FieldValueNotSupported', message: `supported values: ${node.enum.map((v) => `"${v}"`).join(', ')}` });
  }
  if (typeof value === 'number') {
    if (node.minimum !== undefined && value < node.minimum) invalid(`must be greater than or equal to ${node.minimum}`);
    if (node.maximum !== undefined && value > node.maximum) invalid(`must be less than or equal to ${node.maximum}`);
  }
  if (typeof value === 'string') {
    if (node.maxLength !== undefined && value.length > node.maxLength) problems.push({ field: path, reason: 'FieldValueTooLong', message: `may not be longer than ${node.maxLength}` });
    if (node.minLength !== undefined && value.length < node.minLength) invalid(`should be at least ${node.minLength} chars long`);
    if (node.pattern && !new RegExp(node.pattern).test(value)) invalid(`should match '${node.pattern}'`);
  }
  if (Array.isArray(value)) {
    if (node.minItems !== undefined && value.length < node.minItems) invalid(`should have at least ${node.minItems} items`);
    if (node.maxItems !== undefined && value.length > node.maxItems) problems.push({ field: path, reason: 'FieldValueTooMany', message: `must have at most ${node.maxItems} items` });
    const keys = node['x-kubernetes-list-type'] === 'map' ? (node['x-kubernetes-list-map-keys'] ?? []) : [];
    const seen = new Set<string>();
    value.forEach((item, index) => {
      problems.push(...valueProblems(node.items ?? {}, item, `${path}[${index}]`));
      if (keys.length === 0 || typeof item !== 'object' || item === null) return;
      const key = JSON.stringify(keys.map((k) => (item as Record<string, unknown>)[k]));
      if (seen.has(key)) problems.push({ field: `${path}[${index}]`, reason: 'FieldValueDuplicate', message: `Duplicate value: ${key}` });
      seen.add(key);
    });
  }
  if (typeOfValue(value) === 'object') {
    const record = value as Record<string, unknown>;
    for (const name of node.required ?? []) {
      if (record[name] === undefined) problems.push({ field: childPath(path, name), reason: 'FieldValueRequired', message: 'Required value' });
    }
    for (const [name, child] of Object.entries(record)) {
      const childNode = node.properties?.[name] ?? node.additionalProperties;
      if (!childNode) {
        if (node.properties) problems.push({ field: childPath(path, name), reason: 'FieldValueInvalid', message: 'field not declared in schema' });
        continue;
      }
      problems.push(...valueProblems(childNode, child, childPath(path, name)));
    }
  }
  return problems;
}
