/**
 * A small evaluator for the common forms of CEL validation rules (`x-kubernetes-validations`):
 * literals (integers, doubles, strings, true/false/null, lists), `self` and the variables of
 * macros, field selection, indexing, `has(a.b)`, `size(x)` / `x.size()`, the macros `all`,
 * `exists`, `exists_one`, `map`, `filter`, the operators `! - * / % + - < <= > >= == != in && ||`
 * and `c ? a : b`. CEL's semantics kept here: selecting an absent field is an error ("no such
 * key") unless guarded by `has`, `&&`/`||` absorb an error when the other side decides, and
 * types do not mix silently (no `1 == "1"`).
 *
 * Anything else (transition rules with `oldSelf`, string/regex/quantity functions, …) fails to
 * compile, and the CRD carrying it is refused at registration with a message saying so, so an
 * unsupported rule is never silently skipped.
 */

export class CelError extends Error {}

type Node =
  | { t: 'lit'; v: unknown }
  | { t: 'list'; items: Node[] }
  | { t: 'id'; name: string }
  | { t: 'sel'; obj: Node; field: string }
  | { t: 'idx'; obj: Node; index: Node }
  | { t: 'call'; fn: string; target?: Node; args: Node[] }
  | { t: 'un'; op: string; arg: Node }
  | { t: 'bin'; op: string; left: Node; right: Node }
  | { t: 'cond'; test: Node; then: Node; else: Node };

const TOKEN = /\s*(?:(\d+\.\d+)|(\d+)|("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|([A-Za-z_][A-Za-z0-9_]*)|(&&|\|\||==|!=|<=|>=|[-+*/%<>!?:.,()[\]]))/y;
const MACROS = new Set(['all', 'exists', 'exists_one', 'map', 'filter']);
const KEYWORDS: Record<string, unknown> = { true: true, false: false, null: null };

/** Parses a rule; throws CelError naming what is not supported. */
export function compileCel(source: string): Node {
  const tokens: string[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < source.length) {
    if (/^\s*$/.test(source.slice(TOKEN.lastIndex))) break;
    const at = TOKEN.lastIndex;
    const m = TOKEN.exec(source);
    if (!m) throw new CelError(`unexpected character at ${at}: ${JSON.stringify(source.slice(at, at + 10))}`);
    tokens.push(m[0].trim());
  }
  let pos = 0;
  const peek = () => tokens[pos];
  const take = (expected?: string) => {
    const token = tokens[pos++];
    if (expected !== undefined && token !== expected) throw new CelError(`expected ${expected} but found ${token ?? 'end of rule'}`);
    return token;
  };
  const BINARY: Array<string[]> = [['||'], ['&&'], ['==', '!=', '<', '<=', '>', '>=', 'in'], ['+', '-'], ['*', '/', '%']];

  const expression = (): Node => {
    const test = binary(0);
    if (peek() !== '?') return test;
    take('?');
    const then = expression();
    take(':');
    return { t: 'cond', test, then, else: expression() };
  };
  const binary = (level: number): Node => {
    if (level === BINARY.length) return unary();
    let left = binary(level + 1);
    while (BINARY[level].includes(peek())) {
      const op = take();
      left = { t: 'bin', op, left, right: binary(level + 1) };
    }
    return left;
  };
  const unary = (): Node => (peek() === '!' || peek() === '-' ? { t: 'un', op: take(), arg: unary() } : postfix(primary()));
  const args = (): Node[] => {
    take('(');
    const list: Node[] = [];
    while (peek() !== ')') {
      list.push(expression());
      if (peek() === ',') take(',');
      else break;
    }
    take(')');
    return list;
  };
  const postfix = (node: Node): Node => {
    for (;;) {
      if (peek() === '.') {
        take('.');
        const name = take();
        if (!/^[A-Za-z_]/.test(name ?? '')) throw new CelError(`expected a field name after '.'`);
        node = peek() === '(' ? { t: 'call', fn: name, target: node, args: args() } : { t: 'sel', obj: node, field: name };
      } else if (peek() === '[') {
        take('[');
        node = { t: 'idx', obj: node, index: expression() };
        take(']');
      } else return node;
    }
  };
  const primary = (): Node => {
    const token = take();
    if (token === undefined) throw new CelError('unexpected end of rule');
    if (token === '(') {
      const inner = expression();
      take(')');
      return inner;
    }
    if (token === '[') {
      const items: Node[] = [];
      while (peek() !== ']') {
        items.push(expression());
        if (peek() === ',') take(',');
        else break;
      }
      take(']');
      return { t: 'list', items };
    }
    if (/^\d+\.\d+$/.test(token)) return { t: 'lit', v: Number(token) };
    if (/^\d+$/.test(token)) return { t: 'lit', v: Number(token) };
    if (/^["']/.test(token)) return { t: 'lit', v: JSON.parse(token[0] === '"' ? token : `"${token.slice(1, -1).replace(/"/g, '\\"')}"`) };
    if (token in KEYWORDS) return { t: 'lit', v: KEYWORDS[token] };
    if (/^[A-Za-z_]/.test(token)) {
      if (peek() === '(') return { t: 'call', fn: token, args: args() };
      return { t: 'id', name: token };
    }
    throw new CelError(`unexpected ${token}`);
  };

  const root = expression();
  if (pos < tokens.length) throw new CelError(`unexpected ${tokens[pos]}`);
  check(root, new Set(['self']));
  return root;
}

/** Refuses, at compile time, every name and function the evaluator does not implement. */
function check(node: Node, scope: Set<string>): void {
  switch (node.t) {
    case 'lit':
      return;
    case 'list':
      return node.items.forEach((i) => check(i, scope));
    case 'id':
      if (!scope.has(node.name)) throw new CelError(node.name === 'oldSelf' ? 'transition rules (oldSelf) are not supported' : `undeclared reference to '${node.name}'`);
      return;
    case 'sel':
      return check(node.obj, scope);
    case 'idx':
      check(node.obj, scope);
      return check(node.index, scope);
    case 'un':
      return check(node.arg, scope);
    case 'bin':
      check(node.left, scope);
      return check(node.right, scope);
    case 'cond':
      check(node.test, scope);
      check(node.then, scope);
      return check(node.else, scope);
    case 'call':
      if (node.fn === 'has' && !node.target) {
        if (node.args.length !== 1 || node.args[0].t !== 'sel') throw new CelError('has() takes one field selection, e.g. has(self.a)');
        return check(node.args[0].obj, scope);
      }
      if (node.fn === 'size' && (node.target ? node.args.length === 0 : node.args.length === 1)) {
        return (node.target ? [node.target] : node.args).forEach((a) => check(a, scope));
      }
      if (node.target && MACROS.has(node.fn) && node.args.length === 2 && node.args[0].t === 'id') {
        check(node.target, scope);
        return check(node.args[1], new Set([...scope, (node.args[0] as { name: string }).name]));
      }
      throw new CelError(`function '${node.fn}' is not supported by the sandbox API server`);
  }
}

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function typeOf(v: unknown): string {
  if (v === null) return 'null_type';
  if (Array.isArray(v)) return 'list';
  if (isMap(v)) return 'map';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'double';
  return typeof v === 'boolean' ? 'bool' : 'string';
}

function equal(a: unknown, b: unknown): boolean {
  const ta = typeOf(a);
  const tb = typeOf(b);
  const numeric = (t: string) => t === 'int' || t === 'double';
  if (ta !== tb && !(numeric(ta) && numeric(tb))) throw new CelError(`no such overload: ${ta} == ${tb}`);
  return JSON.stringify(a) === JSON.stringify(b);
}

function num(v: unknown, op: string): number {
  if (typeof v !== 'number') throw new CelError(`no such overload: ${typeOf(v)} ${op}`);
  return v;
}

/** Evaluates a compiled rule with `self` bound; throws CelError on a runtime error. */
export function evaluateCel(node: Node, self: unknown, env: Map<string, unknown> = new Map([['self', self]])): unknown {
  const ev = (n: Node, e = env) => evaluateCel(n, self, e);
  switch (node.t) {
    case 'lit':
      return node.v;
    case 'list':
      return node.items.map((i) => ev(i));
    case 'id':
      return env.get(node.name);
    case 'sel': {
      const obj = ev(node.obj);
      if (!isMap(obj) || !Object.hasOwn(obj, node.field)) throw new CelError(`no such key: ${node.field}`);
      return obj[node.field];
    }
    case 'idx': {
      const obj = ev(node.obj);
      const index = ev(node.index);
      if (Array.isArray(obj) && typeof index === 'number' && Number.isInteger(index) && index >= 0 && index < obj.length) return obj[index];
      if (isMap(obj) && typeof index === 'string' && Object.hasOwn(obj, index)) return obj[index];
      throw new CelError(`index out of range or no such key: ${JSON.stringify(index)}`);
    }
    case 'un': {
      const v = ev(node.arg);
      if (node.op === '!') {
        if (typeof v !== 'boolean') throw new CelError(`no such overload: !${typeOf(v)}`);
        return !v;
      }
      return -num(v, 'negation');
    }
    case 'cond': {
      const test = ev(node.test);
      if (typeof test !== 'boolean') throw new CelError('the condition of ?: is not a bool');
      return test ? ev(node.then) : ev(node.else);
    }
    case 'bin':
      return binary(node.op, () => ev(node.left), () => ev(node.right));
    case 'call':
      return call(node, ev, env);
  }
}

function binary(op: string, left: () => unknown, right: () => unknown): unknown {
  if (op === '&&' || op === '||') {
    // CEL's commutative logic: a decided side wins even if the other side is an error.
    const decided = op === '||';
    let error: unknown;
    for (const side of [left, right]) {
      try {
        const v = side();
        if (typeof v !== 'boolean') throw new CelError(`no such overload: ${typeOf(v)} ${op}`);
        if (v === decided) return decided;
      } catch (e) {
        error = e;
      }
    }
    if (error) throw error;
    return !decided;
  }
  const a = left();
  const b = right();
  switch (op) {
    case '==':
      return equal(a, b);
    case '!=':
      return !equal(a, b);
    case 'in':
      if (Array.isArray(b)) return b.some((item) => typeOf(item) === typeOf(a) && equal(item, a));
      if (isMap(b)) return typeof a === 'string' && Object.hasOwn(b, a);
      throw new CelError(`no such overload: in ${typeOf(b)}`);
    case '+':
      if (typeof a === 'string' && typeof b === 'string') return a + b;
      if (Array.isArray(a) && Array.isArray(b)) return [...a, ...b];
      return num(a, op) + num(b, op);
    case '-':
      return num(a, op) - num(b, op);
    case '*':
      return num(a, op) * num(b, op);
    case '/':
    case '%': {
      const divisor = num(b, op);
      if (divisor === 0) throw new CelError(op === '/' ? 'division by zero' : 'modulus by zero');
      const x = num(a, op);
      if (op === '%') return x % divisor;
      return Number.isInteger(x) && Number.isInteger(divisor) ? Math.trunc(x / divisor) : x / divisor;
    }
    default: {
      if (typeof a === 'string' && typeof b === 'string') return op === '<' ? a < b : op === '<=' ? a <= b : op === '>' ? a > b : a >= b;
      const x = num(a, op);
      const y = num(b, op);
      return op === '<' ? x < y : op === '<=' ? x <= y : op === '>' ? x > y : x >= y;
    }
  }
}

function call(node: Extract<Node, { t: 'call' }>, ev: (n: Node, e?: Map<string, unknown>) => unknown, env: Map<string, unknown>): unknown {
  if (node.fn === 'has' && !node.target) {
    const sel = node.args[0] as Extract<Node, { t: 'sel' }>;
    const obj = ev(sel.obj);
    if (!isMap(obj)) throw new CelError(`has() on a ${typeOf(obj)}`);
    return Object.hasOwn(obj, sel.field);
  }
  if (node.fn === 'size') {
    const v = ev(node.target ?? node.args[0]);
    if (typeof v === 'string') return [...v].length;
    if (Array.isArray(v)) return v.length;
    if (isMap(v)) return Object.keys(v).length;
    throw new CelError(`no such overload: size(${typeOf(v)})`);
  }
  const target = ev(node.target!);
  const items = Array.isArray(target) ? target : isMap(target) ? Object.keys(target) : undefined;
  if (!items) throw new CelError(`${node.fn}() on a ${typeOf(target)}`);
  const variable = (node.args[0] as { name: string }).name;
  const body = node.args[1];
  const each = (item: unknown) => ev(body, new Map([...env, [variable, item]]));
  const predicate = (item: unknown) => {
    const v = each(item);
    if (typeof v !== 'boolean') throw new CelError(`${node.fn}() needs a bool predicate`);
    return v;
  };
  switch (node.fn) {
    case 'all':
      return binaryFold(items, predicate, false);
    case 'exists':
      return binaryFold(items, predicate, true);
    case 'exists_one':
      return items.filter(predicate).length === 1;
    case 'map':
      return items.map(each);
    default:
      return items.filter(predicate);
  }
}

/** all/exists: the deciding value wins over errors of other items, as in CEL. */
function binaryFold(items: unknown[], predicate: (item: unknown) => boolean, decided: boolean): boolean {
  let error: unknown;
  for (const item of items) {
    try {
      if (predicate(item) === decided) return decided;
    } catch (e) {
      error = e;
    }
  }
  if (error) throw error;
  return !decided;
}
