// Injectable randomness: algorithms take a RandomSource so tests are deterministic and the proxy's shell
// decides where entropy comes from.

/** A source of uniformly distributed numbers in [0, 1). */
export interface RandomSource {
  next(): number;
}

/**
 * Deterministic generator for tests and simulations (not for anything secret): mulberry32, a 32-bit
 * counter passed through an integer mixer. Unlike a bare xorshift32, consecutive draws are not visibly
 * correlated, which matters when pairs of draws pick two endpoints.
 */
export class SeededRandom implements RandomSource {
  private state: number;

  constructor(seed: number) {
    this.state = seed | 0;
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}
