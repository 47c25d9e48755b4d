// Server clock estimate, NTP-style (PROTOCOL.md 3.1): four timestamps per sample, the
// minimum-delay sample of the recent ones wins. Client times come from performance.now(),
// never Date.now(): wall clocks are off by seconds across machines.

export interface Sample {
  /** Client monotonic time the request left. */
  t0: number;
  /** Server time at receipt. */
  t1: number;
  /** Server time at send. */
  t2: number;
  /** Client monotonic time the answer arrived. */
  t3: number;
}

export interface Estimate {
  offset: number;
  delay: number;
}

export function estimate({ t0, t1, t2, t3 }: Sample): Estimate {
  return { delay: t3 - t0 - (t2 - t1), offset: (t1 - t0 + (t2 - t3)) / 2 };
}

/** Mean absolute deviation around the mean. */
export function meanAbsoluteDeviation(values: number[]): number {
  if (values.length === 0) return 0;
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return values.reduce((a, v) => a + Math.abs(v - mean), 0) / values.length;
}

export class Clock {
  private recent: Estimate[] = [];

  constructor(private readonly keep = 16) {}

  add(sample: Sample): Estimate {
    const e = estimate(sample);
    // A negative delay means a broken sample (clock jump); it would win every comparison.
    if (e.delay >= 0 && Number.isFinite(e.offset)) {
      this.recent.push(e);
      if (this.recent.length > this.keep) this.recent.shift();
    }
    return e;
  }

  get synced(): boolean {
    return this.recent.length > 0;
  }

  /** The minimum-delay sample of the recent ones. */
  get best(): Estimate | null {
    return this.recent.reduce<Estimate | null>((b, e) => (b === null || e.delay < b.delay ? e : b), null);
  }

  get offset(): number {
    return this.best?.offset ?? 0;
  }

  serverNow(perfNow: number = performance.now()): number {
    return perfNow + this.offset;
  }

  /** Server time `serverMs` on the local monotonic clock. */
  toLocal(serverMs: number): number {
    return serverMs - this.offset;
  }

  get rttMs(): number | undefined {
    return this.best?.delay;
  }

  get jitterMs(): number | undefined {
    return this.recent.length ? meanAbsoluteDeviation(this.recent.map((e) => e.delay)) : undefined;
  }
}
