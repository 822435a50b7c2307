/**
 * Waiting for something another process or a timer does, with a deadline: the tests' one way to
 * wait, so a loaded machine is given time and a hung one still fails with what was awaited.
 */

/** Resolves once `cond()` is true; throws `not within <ms> ms: <what>` after `ms`. */
export async function until(cond: () => Promise<boolean> | boolean, ms: number, what: string, stepMs = 50): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
