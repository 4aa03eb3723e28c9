// RFC 6902 JSON Patch: the subset the injector emits (add), and an applier used by `weft inject`
// and the tests to see the pod the apiserver will see.

export type JsonPatchOperation =
  | { op: 'add'; path: string; value: unknown }
  | { op: 'replace'; path: string; value: unknown }
  | { op: 'remove'; path: string };

/** RFC 6901: `~` -> `~0`, `/` -> `~1`. */
export function escapePointer(token: string): string {
  return token.replaceAll('~', '~0').replaceAll('/', '~1');
}

function unescapePointer(token: string): string {
  return token.replaceAll('~1', '/').replaceAll('~0', '~');
}

function tokensOf(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw new Error(`JSON pointer "${path}" must start with "/"`);
  return path.slice(1).split('/').map(unescapePointer);
}

function arrayIndex(token: string, length: number, allowEnd: boolean, path: string): number {
  if (token === '-' && allowEnd) return length;
  if (!/^(0|[1-9]\d*)$/.test(token)) throw new Error(`"${token}" in "${path}" is not an array index`);
  const index = Number(token);
  if (index > length || (!allowEnd && index === length)) {
    throw new Error(`index ${index} in "${path}" is out of bounds (length ${length})`);
  }
  return index;
}

/** Applies the operations to a deep copy of the document and returns it; throws naming the path. */
export function applyPatch<T>(document: T, operations: readonly JsonPatchOperation[]): T {
  let root: unknown = structuredClone(document);
  for (const operation of operations) {
    const tokens = tokensOf(operation.path);
    if (tokens.length === 0) {
      if (operation.op === 'remove') throw new Error('cannot remove the whole document');
      root = structuredClone(operation.value);
      continue;
    }
    let parent: unknown = root;
    for (const token of tokens.slice(0, -1)) {
      if (Array.isArray(parent)) parent = parent[arrayIndex(token, parent.length, false, operation.path)];
      else if (parent !== null && typeof parent === 'object' && Object.hasOwn(parent, token)) {
        parent = (parent as Record<string, unknown>)[token];
      } else throw new Error(`path "${operation.path}" does not exist (at "${token}")`);
    }
    const last = tokens[tokens.length - 1] as string;
    const value = operation.op === 'remove' ? undefined : structuredClone(operation.value);
    if (Array.isArray(parent)) {
      const index = arrayIndex(last, parent.length, operation.op === 'add', operation.path);
      if (operation.op === 'add') parent.splice(index, 0, value);
      else if (operation.op === 'replace') parent[index] = value;
      else parent.splice(index, 1);
    } else if (parent !== null && typeof parent === 'object') {
      const target = parent as Record<string, unknown>;
      if (operation.op !== 'add' && !Object.hasOwn(target, last)) {
        throw new Error(`path "${operation.path}" does not exist`);
      }
      if (operation.op === 'remove') delete target[last];
      else
        Object.defineProperty(target, last, { value, enumerable: true, writable: true, configurable: true });
    } else {
      throw new Error(`path "${operation.path}" has no object or array parent`);
    }
  }
  return root as T;
}
