// What sealing one frame of the sealed config stream costs the operator (crds/control-plane/sealed.ts), per
// subscriber as a change reaches it: N subscribers each with their own key, one frame each, for a few frame sizes;
// and the same AES-256-GCM call given the raw key Buffer, which makes Node build a KeyObject for every call.
//   node operator/bench/seal.bench.ts [subscribers=5000]
import { createCipheriv, randomBytes } from 'node:crypto';
import { FrameSealer, streamKeys } from '../../crds/control-plane/sealed.ts';

const n = Number(process.argv[2] ?? 5000);
const keys = Array.from({ length: n }, () => streamKeys(randomBytes(64), randomBytes(16)).serverToClient);
const sealers = keys.map((k) => new FrameSealer(k));
const perCall = (fn: (i: number) => void): number => {
  let us = 0;
  // Three passes; the last is reported (the first ones warm the code up).
  for (let pass = 0; pass < 3; pass++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) fn(i);
    us = Number(process.hrtime.bigint() - t0) / 1000 / n;
  }
  return us;
};
for (const size of [100, 2_000, 16_384]) {
  const msg = Buffer.alloc(size, 'x');
  const sealed = perCall((i) => sealers[i]!.seal(msg));
  const rawKey = perCall((i) => {
    const c = createCipheriv('aes-256-gcm', keys[i]!, Buffer.alloc(12));
    c.update(msg);
    c.final();
    c.getAuthTag();
  });
  process.stdout.write(
    `${size}-byte frame, ${n} keys: FrameSealer.seal ${sealed.toFixed(1)} us; createCipheriv with the raw key ${rawKey.toFixed(1)} us\n`,
  );
}
