/** The providers' log captured for assertions: one array, emptied before each test. */
import { beforeAll, beforeEach } from "vitest";
import { setLogger } from "../../infra/providers/common.js";

/** Routes the providers' logger into the returned array (warnings prefixed `warn: `), emptied before each test. */
export function captureProviderLogs(): string[] {
  const logs: string[] = [];
  beforeAll(() => setLogger({ info: (m) => logs.push(m), warn: (m) => logs.push(`warn: ${m}`) }));
  beforeEach(() => {
    logs.length = 0;
  });
  return logs;
}
