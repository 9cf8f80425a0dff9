import { silentLogger, withReconnect } from '@herald/core/runtime';
import { describe, expect, it } from 'vitest';

const unreachable = Object.assign(new Error('connect ECONNREFUSED'), { reachable: false });
const answered = Object.assign(new Error('NotFound'), { reachable: true });
const isUnreachable = (err: unknown) => !(err as { reachable: boolean }).reachable;

describe('withReconnect', () => {
  it('retries while the service cannot be reached, up to reconnectAttempts more times', async () => {
    let calls = 0;
    const result = await withReconnect('X', { attempts: 3, delaySeconds: 0 }, silentLogger, isUnreachable, async () => {
      calls++;
      if (calls < 3) throw unreachable;
      return 'ok';
    });
    expect(result).toBe('ok');
    expect(calls).toBe(3);
  });

  it('gives up after the last attempt with the last error', async () => {
    let calls = 0;
    const failing = () => {
      calls++;
      return Promise.reject(unreachable);
    };
    await expect(
      withReconnect('X', { attempts: 2, delaySeconds: 0 }, silentLogger, isUnreachable, failing),
    ).rejects.toBe(unreachable);
    expect(calls).toBe(3);
  });

  it('throws at once when the service answered with an error', async () => {
    let calls = 0;
    const failing = () => {
      calls++;
      return Promise.reject(answered);
    };
    await expect(withReconnect('X', { attempts: 5 }, silentLogger, isUnreachable, failing)).rejects.toBe(answered);
    expect(calls).toBe(1);
  });
});
