/**
 * Groups the items an async iterator already has ready into arrays, without waiting for more:
 * after the first item of a batch, it takes every further item that arrives before the event loop
 * turns (setImmediate), up to `maxItems`. Under load one array carries many items; when idle,
 * every item goes out alone and at once. Used to send a busy journal as few SSE messages.
 */
export async function* batchReady<T>(source: AsyncIterator<T>, maxItems: number): AsyncGenerator<T[]> {
  const TURN = Symbol("turn");
  let pending: Promise<IteratorResult<T>> | undefined;
  try {
    for (;;) {
      const first = await (pending ?? source.next());
      pending = undefined;
      if (first.done) return;
      const batch: T[] = [first.value];
      while (batch.length < maxItems) {
        pending = source.next();
        let timer: NodeJS.Immediate | undefined;
        const turned = new Promise<typeof TURN>((resolve) => {
          timer = setImmediate(() => resolve(TURN));
        });
        const next = await Promise.race([pending, turned]);
        if (timer) clearImmediate(timer);
        // Nothing more was ready: send this batch; the pending `next` starts the following one.
        if (next === TURN) break;
        pending = undefined;
        if (next.done) {
          yield batch;
          return;
        }
        batch.push(next.value);
      }
      yield batch;
    }
  } finally {
    await source.return?.();
  }
}
