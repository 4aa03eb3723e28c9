// @peculiar/x509 resolves its services through tsyringe, which needs the Reflect metadata API (normally the
// reflect-metadata package, which is not a dependency). This installs the few functions tsyringe and
// TypeScript's emitted decorator metadata call, once, and only when they are missing. Import before x509.
type Key = unknown;
type Target = object;

const store = new WeakMap<Target, Map<string | symbol | undefined, Map<Key, unknown>>>();

function table(
  target: Target,
  property: string | symbol | undefined,
  create: boolean,
): Map<Key, unknown> | undefined {
  let byProperty = store.get(target);
  if (byProperty === undefined) {
    if (!create) return undefined;
    byProperty = new Map();
    store.set(target, byProperty);
  }
  let t = byProperty.get(property);
  if (t === undefined && create) {
    t = new Map();
    byProperty.set(property, t);
  }
  return t;
}

function getOwnMetadata(key: Key, target: Target, property?: string | symbol): unknown {
  return table(target, property, false)?.get(key);
}

function getMetadata(key: Key, target: Target, property?: string | symbol): unknown {
  for (let t: Target | null = target; t !== null; t = Object.getPrototypeOf(t) as Target | null) {
    const own = table(t, property, false);
    if (own?.has(key)) return own.get(key);
  }
  return undefined;
}

const api = {
  defineMetadata(key: Key, value: unknown, target: Target, property?: string | symbol): void {
    table(target, property, true)!.set(key, value);
  },
  getOwnMetadata,
  getMetadata,
  hasOwnMetadata: (key: Key, target: Target, property?: string | symbol) =>
    table(target, property, false)?.has(key) ?? false,
  hasMetadata: (key: Key, target: Target, property?: string | symbol) =>
    getMetadata(key, target, property) !== undefined,
  metadata:
    (key: Key, value: unknown) =>
    (target: Target, property?: string | symbol): void =>
      api.defineMetadata(key, value, target, property),
};

const reflect = Reflect as unknown as Record<string, unknown>;
if (typeof reflect.getMetadata !== 'function') {
  for (const [name, fn] of Object.entries(api)) reflect[name] = fn;
}
