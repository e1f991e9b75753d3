interface Window {
  count: number;
  resetsAt: number;
}

/**
 * Requests per key in fixed windows (the first request of a key opens its window), held in
 * memory, at most `maxKeys` keys (the longest unused go first). Synchronous on purpose: a
 * request hook that returns a promise makes every request of the app wait a turn of the event
 * loop, health probes included.
 */
export class WindowCounter {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly windowMs: number,
    private readonly maxKeys: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts one request for `key`: how many the window holds now, and when it ends (ms since the epoch). */
  increment(key: string): { count: number; resetsAt: number } {
    const at = this.now();
    let window = this.windows.get(key);
    if (window === undefined || window.resetsAt <= at) {
      window = { count: 0, resetsAt: at + this.windowMs };
    }
    window.count++;
    // Re-inserting keeps the Map in order of last use, so eviction drops the longest unused.
    this.windows.delete(key);
    this.windows.set(key, window);
    if (this.windows.size > this.maxKeys) {
      const oldest = this.windows.keys().next().value;
      if (oldest !== undefined) this.windows.delete(oldest);
    }
    return window;
  }

  clear(): void {
    this.windows.clear();
  }
}
