/**
 * Protobuf request bodies (`application/vnd.kubernetes.protobuf`), which kubectl sends for the
 * built-in kinds it creates imperatively (`kubectl create namespace|secret|configmap`).
 *
 * The envelope is the 4-byte magic `k8s\0` followed by a runtime.Unknown message
 * {typeMeta(1): {apiVersion(1), kind(2)}, raw(2), contentEncoding(3), contentType(4)}, and `raw`
 * is the object in the field numbers of k8s.io/api's generated.proto. Only the kinds below are
 * decoded (by a small wire reader, field numbers from those .proto files); any other kind is a
 * 415 that says which form works. Decoded objects come out as the JSON decoder would give them:
 * empty strings, zero numbers and zero times (which gogo-protobuf always writes) are left out.
 */
import { ApiError, badRequest } from './errors.ts';
import type { KubeObject } from './registry.ts';

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

/** The decoded form of a field: bytes for length-delimited fields, a number for varints. */
type Value = Buffer | number;
type Fields = Map<number, Value[]>;

/** Reads one message's fields (proto2 wire format: varint, 64-bit, length-delimited, 32-bit). */
function readFields(buf: Buffer): Fields {
  const fields: Fields = new Map();
  let pos = 0;
  const varint = (): number => {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= buf.length) throw badRequest('the protobuf body is truncated');
      const byte = buf[pos++];
      result += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) return result;
      scale *= 128;
    }
    throw badRequest('the protobuf body has a malformed varint');
  };
  while (pos < buf.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    const wire = key % 8;
    let value: Value;
    if (wire === 0) value = varint();
    else if (wire === 2) {
      const length = varint();
      if (pos + length > buf.length) throw badRequest('the protobuf body is truncated');
      value = buf.subarray(pos, pos + length);
      pos += length;
    } else if (wire === 1 || wire === 5) {
      pos += wire === 1 ? 8 : 4;
      continue;
    } else throw badRequest(`the protobuf body has an unsupported wire type ${wire}`);
    const list = fields.get(field) ?? [];
    list.push(value);
    fields.set(field, list);
  }
  return fields;
}

const bytes = (f: Fields, n: number): Buffer | undefined => {
  const v = f.get(n)?.at(-1);
  return Buffer.isBuffer(v) ? v : undefined;
};
const str = (f: Fields, n: number): string | undefined => {
  const v = bytes(f, n)?.toString('utf8');
  return v === '' ? undefined : v;
};
const num = (f: Fields, n: number): number | undefined => {
  const v = f.get(n)?.at(-1);
  return typeof v === 'number' && v !== 0 ? v : undefined;
};
const bool = (f: Fields, n: number): boolean | undefined => {
  const v = f.get(n)?.at(-1);
  return typeof v === 'number' ? v !== 0 : undefined;
};
const strings = (f: Fields, n: number): string[] | undefined => {
  const list = (f.get(n) ?? []).filter(Buffer.isBuffer).map((b) => b.toString('utf8'));
  return list.length > 0 ? list : undefined;
};
const messages = (f: Fields, n: number): Fields[] => (f.get(n) ?? []).filter(Buffer.isBuffer).map(readFields);

/** map<string, string|bytes> fields are repeated entries {key(1), value(2)}. */
function map(f: Fields, n: number, asBase64: boolean): Record<string, string> | undefined {
  const entries = messages(f, n);
  if (entries.length === 0) return undefined;
  // fromEntries defines own properties, so even a `__proto__` key cannot change a prototype
  // (checkDecoded refuses it afterwards, as for JSON bodies).
  return Object.fromEntries(
    entries.map((entry) => {
      const value = bytes(entry, 2) ?? Buffer.alloc(0);
      return [bytes(entry, 1)?.toString('utf8') ?? '', asBase64 ? value.toString('base64') : value.toString('utf8')];
    }),
  );
}

/** metav1.Time {seconds(1), nanos(2)} as RFC 3339; the zero time is left out. */
function time(f: Fields, n: number): string | undefined {
  const t = bytes(f, n);
  if (!t) return undefined;
  const seconds = num(readFields(t), 1);
  return seconds ? new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z') : undefined;
}

function compact<T extends Record<string, unknown>>(obj: T): T {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as T;
}

/** ObjectMeta (k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto). */
function objectMeta(f: Fields): KubeObject {
  return compact({
    name: str(f, 1),
    generateName: str(f, 2),
    namespace: str(f, 3),
    uid: str(f, 5),
    resourceVersion: str(f, 6),
    generation: num(f, 7),
    creationTimestamp: time(f, 8),
    labels: map(f, 11, false),
    annotations: map(f, 12, false),
    ownerReferences: messages(f, 13).map((o) =>
      compact({ apiVersion: str(o, 5), kind: str(o, 1), name: str(o, 3), uid: str(o, 4), controller: bool(o, 6), blockOwnerDeletion: bool(o, 7) }),
    ),
    finalizers: strings(f, 14),
  });
}

function withMeta(f: Fields): KubeObject {
  const metadata = bytes(f, 1);
  const meta = metadata ? objectMeta(readFields(metadata)) : {};
  if (Array.isArray(meta.ownerReferences) && meta.ownerReferences.length === 0) delete meta.ownerReferences;
  return { metadata: meta };
}

/** Decoders by `apiVersion/kind`, field numbers from k8s.io/api/core/v1/generated.proto. */
const DECODERS: Record<string, (f: Fields) => KubeObject> = {
  'v1/Namespace': (f) => {
    const spec = bytes(f, 2);
    const finalizers = spec ? strings(readFields(spec), 1) : undefined;
    return compact({ ...withMeta(f), spec: finalizers ? { finalizers } : undefined });
  },
  'v1/ConfigMap': (f) => compact({ ...withMeta(f), data: map(f, 2, false), binaryData: map(f, 3, true), immutable: bool(f, 4) }),
  'v1/Secret': (f) => compact({ ...withMeta(f), data: map(f, 2, true), type: str(f, 3), stringData: map(f, 4, false), immutable: bool(f, 5) }),
};

export const PROTOBUF_KINDS = Object.keys(DECODERS);

export function isProtobuf(contentType: string | undefined): boolean {
  return /application\/vnd\.kubernetes\.protobuf/i.test(contentType ?? '');
}

/** Decodes a protobuf body into the object JSON would have given, with apiVersion and kind. */
export function decodeProtobuf(body: Buffer): KubeObject {
  if (body.length < MAGIC.length || !body.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw badRequest('the protobuf body does not start with the Kubernetes envelope prefix "k8s\\x00"');
  }
  const unknown = readFields(body.subarray(MAGIC.length));
  const typeMeta = bytes(unknown, 1);
  const type = typeMeta ? readFields(typeMeta) : new Map();
  const apiVersion = str(type, 1) ?? '';
  const kind = str(type, 2) ?? '';
  const encoding = str(unknown, 3);
  if (encoding) throw badRequest(`the protobuf body's content encoding ${JSON.stringify(encoding)} is not supported`);
  const decode = DECODERS[`${apiVersion}/${kind}`];
  if (!decode) {
    throw new ApiError(
      415,
      'UnsupportedMediaType',
      `the sandbox API server decodes protobuf bodies only for ${PROTOBUF_KINDS.join(', ')}, not ${apiVersion}/${kind}; send JSON or YAML (kubectl: apply -f / create -f)`,
    );
  }
  return { apiVersion, kind, ...decode(readFields(bytes(unknown, 2) ?? Buffer.alloc(0))) };
}
