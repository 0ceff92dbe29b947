/** Polars values of every dtype, shared by the round-trip and the fuzz tests. */
import pl from 'nodejs-polars';

/** A frame with one column per dtype, each holding a null. */
export function everyDtype(): pl.DataFrame {
  const base = pl.DataFrame({ a: [1, 2, null], s: ['x', null, 'z'], b: [true, false, null] });
  return base.withColumns(
    ...[pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64, pl.Float32].map((t, i) =>
      pl.col('a').cast(t).alias(`n${i}`),
    ),
    pl.col('s').cast(pl.Categorical).alias('cat'),
    pl.col('a').cast(pl.Date).alias('date'),
    pl.col('a').cast(pl.Datetime('ms')).alias('dt_ms'),
    pl.col('a').cast(pl.Datetime('ns', 'Asia/Tokyo')).alias('dt_tz'),
    pl.col('a').cast(pl.Duration('us')).alias('duration'),
    pl.col('a').cast(pl.Int64).cast(pl.Time).alias('time'),
    pl.concatList([pl.col('a'), pl.col('a')]).alias('list'),
    pl.concatList([pl.col('a'), pl.col('a')]).cast(pl.FixedSizeList(pl.Float64, 2)).alias('fixed'),
    pl.struct([pl.col('a'), pl.col('s')]).alias('rec'),
    pl.lit(null).alias('nothing'),
  );
}
