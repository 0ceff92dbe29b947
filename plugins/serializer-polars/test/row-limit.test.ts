/**
 * The decoder holds a file's rows under 2^32 (Polars counts a frame's rows in 32 bits). A file
 * claiming that many would have to be over 512 MiB to pass the checker's own bound (8 rows per
 * received byte), so this checks that the decoder hands the checker that limit.
 */
import pl from 'nodejs-polars';
import { describe, expect, it, vi } from 'vitest';
import { checkIpcFile } from '@mirai-ts/serializer-arrow/validate';
import { polarsSerializer } from '../src/index.js';

vi.mock('@mirai-ts/serializer-arrow/validate', async (importOriginal) => {
  const real = await importOriginal<typeof import('@mirai-ts/serializer-arrow/validate')>();
  return { ...real, checkIpcFile: vi.fn(real.checkIpcFile) };
});

describe('polarsSerializer row limit', () => {
  it('checks every file with a limit below 2^32 rows', () => {
    const ser = polarsSerializer();
    const df = pl.DataFrame({ a: [1, 2, 3] });
    expect((ser.decode(ser.encode(df) as Uint8Array[]) as pl.DataFrame).height).toBe(3);
    expect(checkIpcFile).toHaveBeenCalledWith(expect.any(Uint8Array), 'polars', { maxRows: 2 ** 32 - 1, maxRowsReason: '(Polars counts the rows of a frame in 32 bits)' });
  });
});
