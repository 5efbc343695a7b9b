// Work dealt in order between a tinypool's workers and this thread (the pools of
// `explore --exhaustive --workers` and of random `explore --workers`).

/** Lets the event loop run (a pool's messages) before this thread goes on. */
export const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Deals the indices 0 … total − 1 in order: 2 × `workers` loops take `chunk` at a time for
 * the pool (each worker has one task queued while one runs), and this thread takes one
 * at a time, yielding after each so that the pool's messages are handled. Nothing new is
 * dealt once `stop(next)` says so (`next`: the first index not dealt yet).
 */
export async function dealInOrder(
  total: number,
  workers: number,
  chunk: number,
  stop: (next: number) => boolean,
  toPool: (from: number, to: number) => Promise<void>,
  here: (i: number) => void,
): Promise<void> {
  let next = 0;
  const take = (n: number): [number, number] | null => {
    if (next >= total || stop(next)) return null;
    const at = next;
    next = Math.min(total, next + n);
    return [at, next];
  };
  const worker = async (): Promise<void> => {
    for (let r = take(chunk); r !== null; r = take(chunk)) await toPool(r[0], r[1]);
  };
  const mine = async (): Promise<void> => {
    for (let r = take(1); r !== null; r = take(1)) {
      here(r[0]);
      await nextTurn();
    }
  };
  await Promise.all([mine(), ...Array.from({ length: 2 * workers }, worker)]);
}
