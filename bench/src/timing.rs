//! Wall-clock timing of repeated calls: batches sized to the call's cost,
//! the median batch reported so that a hiccup of the machine (2 shared
//! cores) moves no figure.

use std::time::{Duration, Instant};

use crate::BenchError;

/// How long to spend measuring one figure.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub per_figure: Duration,
    pub batches: u32,
}

/// Microseconds per call: the median of the batches' means.
pub fn micros_per_call(
    budget: Budget,
    mut call: impl FnMut() -> Result<(), BenchError>,
) -> Result<f64, BenchError> {
    let size = batch_size(budget.per_figure, budget.batches, &mut call)?;
    let means = (0..budget.batches)
        .map(|_| batch(size, &mut call))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(median(means))
}

/// Two calls timed side by side, batch after batch, so that a change in
/// the machine's load weighs on both alike.
#[derive(Debug, Clone, Copy)]
pub struct Pair {
    /// Median µs per call of the first and of the second.
    pub first: f64,
    pub second: f64,
    /// The median of the batches' first/second ratios.
    pub ratio: f64,
}

pub fn paired_micros_per_call(
    budget: Budget,
    mut first: impl FnMut() -> Result<(), BenchError>,
    mut second: impl FnMut() -> Result<(), BenchError>,
) -> Result<Pair, BenchError> {
    // Each gets half of the time.
    let half = budget.per_figure / 2;
    let sizes = [
        batch_size(half, budget.batches, &mut first)?,
        batch_size(half, budget.batches, &mut second)?,
    ];
    let (mut firsts, mut seconds, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..budget.batches {
        let a = batch(sizes[0], &mut first)?;
        let b = batch(sizes[1], &mut second)?;
        firsts.push(a);
        seconds.push(b);
        ratios.push(a / b);
    }
    Ok(Pair {
        first: median(firsts),
        second: median(seconds),
        ratio: median(ratios),
    })
}

/// How many calls fill one of `batches` batches lasting `time` in all,
/// estimated during a warm-up (caches, allocator, lazy initialisation).
fn batch_size(
    time: Duration,
    batches: u32,
    call: &mut impl FnMut() -> Result<(), BenchError>,
) -> Result<u32, BenchError> {
    let warmup = Instant::now();
    let mut calls = 0u32;
    while calls < 3 || (warmup.elapsed() < time / 10 && calls < 1000) {
        call()?;
        calls += 1;
    }
    let estimate = warmup.elapsed().as_secs_f64() / f64::from(calls);
    let per_batch = time.as_secs_f64() / f64::from(batches);
    Ok((per_batch / estimate.max(1e-9)).clamp(1.0, 1e9) as u32)
}

/// µs per call over `size` calls.
fn batch(size: u32, call: &mut impl FnMut() -> Result<(), BenchError>) -> Result<f64, BenchError> {
    let start = Instant::now();
    for _ in 0..size {
        call()?;
    }
    Ok(start.elapsed().as_secs_f64() * 1e6 / f64::from(size))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}
