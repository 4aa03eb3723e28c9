// Injectable randomness: algorithms take a RandomSource so tests are deterministic and the proxy's shell
// decides where entropy comes from.

/** A source of uniformly distributed numbers in [0, 1). */
export interface RandomSource {
  next(): number;
}

/** Deterministic xorshift32 generator for tests and simulations (not for anything secret). */
export class SeededRandom implements RandomSource {
  private state: number;

  constructor(seed: number) {
    // Scramble the seed (multiplicative hash) so nearby seeds diverge; xorshift needs a non-zero state.
    this.state = Math.imul((seed | 0) ^ 0x5bd1e995, 0x9e3779b1) | 0;
    if (this.state === 0) this.state = 0x6d2b79f5;
  }

  next(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x;
    return (x >>> 0) / 4294967296;
  }
}
