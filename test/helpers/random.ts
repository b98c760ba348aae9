// A deterministic pseudo-random sequence for model tests, so a failing seed can be replayed.

/** xorshift32: numbers in [0, 1) from `seed` (a nonzero integer). */
export function seededRandom(seed: number): () => number {
  let state = seed;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
}
