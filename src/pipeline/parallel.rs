//! An ordered, bounded, parallel map: jobs are produced in order, transformed
//! on `threads` threads at once, and consumed in the same order. At most two
//! jobs per thread exist at a time, so memory stays flat whatever the input
//! size.
//!
//! Each thread takes the next job itself, works on it, and consumes the
//! result when its turn comes; the calling thread is one of them. So a chunk
//! is mostly read, coded and written on one core, and no producer or
//! consumer thread competes with the workers for the cores: handing every
//! chunk to other threads made the passes that stream memory (checksums,
//! copies) 30–55 % slower, and two threads decompressed 1.3–1.5× as fast
//! as one where two one-thread processes side by side reach 2×. A result
//! finished ahead of its turn is parked (up to one per thread) and its
//! thread goes on to the next job, so one large chunk does not stall the
//! small ones behind it; the thread whose turn it is consumes those parked
//! results after its own.

use std::collections::BTreeMap;
use std::sync::{Condvar, Mutex};

use crate::error::{Error, Result};

/// Jobs (or their results) out at once with `threads` threads: one being
/// worked on and at most one parked per thread.
pub fn jobs_in_flight(threads: usize) -> usize {
    2 * threads.max(1)
}

/// Run `produce` → `work` → `consume` on `threads` threads, in order.
///
/// `produce` returns `Ok(None)` when done. The first error in job order
/// (from any stage) stops the pipeline and is returned.
pub fn ordered_map<J, O, P, W, C>(threads: usize, produce: P, work: W, consume: C) -> Result<()>
where
    O: Send,
    P: FnMut() -> Result<Option<J>> + Send,
    W: Fn(J) -> Result<O> + Sync,
    C: FnMut(O) -> Result<()> + Send,
{
    let (mut produce, mut consume) = (produce, consume);
    if threads <= 1 {
        while let Some(job) = produce()? {
            consume(work(job)?)?;
        }
        return Ok(());
    }
    let shared = Shared {
        source: Mutex::new(Source {
            produce,
            next: 0,
            done: false,
        }),
        turns: Mutex::new(Turns {
            next: 0,
            parked: BTreeMap::new(),
            park_limit: jobs_in_flight(threads) - threads,
            error: None,
        }),
        changed: Condvar::new(),
        consume: Mutex::new(consume),
    };
    std::thread::scope(|scope| {
        for _ in 1..threads {
            scope.spawn(|| run_worker(&shared, &work));
        }
        run_worker(&shared, &work);
    });
    let turns = shared.turns.into_inner().map_err(|_| PANICKED)?;
    turns.error.map_or(Ok(()), Err)
}

const PANICKED: Error = Error::Internal("a pipeline thread panicked");

struct Shared<P, C, O> {
    source: Mutex<Source<P>>,
    turns: Mutex<Turns<O>>,
    /// Signalled when a turn ends or the pipeline stops.
    changed: Condvar,
    /// Locked only by the thread whose turn it is (so never contended): a
    /// slow consumer, such as a write the kernel throttles, must not keep
    /// the other threads from parking their results and going on.
    consume: Mutex<C>,
}

struct Source<P> {
    produce: P,
    /// Sequence number of the next job.
    next: u64,
    done: bool,
}

struct Turns<O> {
    /// Sequence number of the next result to consume; the thread holding
    /// it has the turn until it moves this on.
    next: u64,
    /// Results finished ahead of their turn.
    parked: BTreeMap<u64, Result<O>>,
    park_limit: usize,
    /// The error that stopped the pipeline.
    error: Option<Error>,
}

impl<P, C, O> Shared<P, C, O> {
    /// Stop every thread at its next step; the first error is kept.
    fn stop(&self, error: Error) {
        if let Ok(mut turns) = self.turns.lock() {
            turns.error.get_or_insert(error);
            turns.parked.clear();
        }
        if let Ok(mut source) = self.source.lock() {
            source.done = true;
        }
        self.changed.notify_all();
    }
}

/// Stops the pipeline if its thread unwinds, so no other thread waits for
/// a turn that would never come.
struct StopOnPanic<'a, P, C, O>(&'a Shared<P, C, O>);

impl<P, C, O> Drop for StopOnPanic<'_, P, C, O> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.stop(PANICKED);
        }
    }
}

fn run_worker<J, O, P, W, C>(shared: &Shared<P, C, O>, work: &W)
where
    P: FnMut() -> Result<Option<J>>,
    W: Fn(J) -> Result<O>,
    C: FnMut(O) -> Result<()>,
{
    let _guard = StopOnPanic(shared);
    loop {
        // A producer's error takes the turn of the job it failed to make.
        let (seq, job) = {
            let Ok(mut source) = shared.source.lock() else {
                return;
            };
            if source.done {
                return;
            }
            let seq = source.next;
            source.next += 1;
            let job = (source.produce)();
            if !matches!(job, Ok(Some(_))) {
                source.done = true;
            }
            (seq, job)
        };
        let out = match job {
            Ok(Some(job)) => work(job),
            Ok(None) => return,
            Err(e) => Err(e),
        };
        let Ok(mut turns) = shared.turns.lock() else {
            return;
        };
        if turns.next != seq && turns.parked.len() < turns.park_limit {
            turns.parked.insert(seq, out);
            continue;
        }
        while turns.next != seq && turns.error.is_none() {
            let Ok(t) = shared.changed.wait(turns) else {
                return;
            };
            turns = t;
        }
        if turns.error.is_some() {
            return;
        }
        drop(turns);
        // This thread's turn: its result, then those parked behind it.
        let mut out = out;
        loop {
            let done = match shared.consume.lock() {
                Ok(mut consume) => out.and_then(|o| (*consume)(o)),
                Err(_) => Err(PANICKED),
            };
            if let Err(e) = done {
                shared.stop(e);
                return;
            }
            let Ok(mut turns) = shared.turns.lock() else {
                return;
            };
            turns.next += 1;
            let next = turns.next;
            match turns.parked.remove(&next) {
                Some(o) => out = o,
                None => break,
            }
        }
        shared.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_stops_on_error() {
        for threads in [1, 2, 4] {
            let mut i = 0u32;
            let mut seen = Vec::new();
            ordered_map(
                threads,
                || {
                    i += 1;
                    Ok((i <= 100).then_some(i))
                },
                |x| Ok(x * 2),
                |x| {
                    seen.push(x);
                    Ok(())
                },
            )
            .unwrap();
            assert_eq!(seen, (1..=100).map(|x| x * 2).collect::<Vec<_>>());

            let mut j = 0u32;
            let r = ordered_map(
                threads,
                || {
                    j += 1;
                    Ok((j <= 100).then_some(j))
                },
                |x| {
                    if x == 50 {
                        Err(Error::Internal("boom"))
                    } else {
                        Ok(x)
                    }
                },
                |_| Ok(()),
            );
            assert!(matches!(r, Err(Error::Internal("boom"))));
        }
    }

    /// Jobs are consumed in order however long each takes, at most two per
    /// thread are out at a time, and the first error *in job order* wins
    /// (a producer's included), whichever thread meets its error first.
    #[test]
    fn order_bound_and_first_error_in_job_order() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        for threads in [2, 3, 5] {
            let out = AtomicUsize::new(0);
            let peak = AtomicUsize::new(0);
            let mut i = 0u64;
            let mut seen = Vec::new();
            ordered_map(
                threads,
                || {
                    i += 1;
                    let now = out.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    Ok((i <= 60).then_some(i))
                },
                |x| {
                    // Later jobs finish first.
                    std::thread::sleep(std::time::Duration::from_micros((60 - x) * 20));
                    Ok(x)
                },
                |x| {
                    out.fetch_sub(1, Ordering::SeqCst);
                    seen.push(x);
                    Ok(())
                },
            )
            .unwrap();
            assert_eq!(seen, (1..=60).collect::<Vec<_>>());
            assert!(
                peak.load(Ordering::SeqCst) <= 2 * threads,
                "{threads} threads"
            );

            // Job 7 fails slowly, job 9 at once: 7's error is returned.
            let mut j = 0u64;
            let r = ordered_map(
                threads,
                || {
                    j += 1;
                    Ok((j <= 30).then_some(j))
                },
                |x| match x {
                    7 => {
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        Err(Error::Internal("seven"))
                    }
                    9 => Err(Error::Internal("nine")),
                    x => Ok(x),
                },
                |_| Ok(()),
            );
            assert!(matches!(r, Err(Error::Internal("seven"))), "{r:?}");

            // The producer fails making job 4, job 2 fails slowly: job 2's
            // error; and alone, the producer's after jobs 1..=3 are done.
            for (slow_fail, want) in [(true, "two"), (false, "producer")] {
                let mut k = 0u64;
                let mut done = Vec::new();
                let r = ordered_map(
                    threads,
                    || {
                        k += 1;
                        if k == 4 {
                            return Err(Error::Internal("producer"));
                        }
                        Ok(Some(k))
                    },
                    |x| {
                        if x == 2 && slow_fail {
                            std::thread::sleep(std::time::Duration::from_millis(20));
                            return Err(Error::Internal("two"));
                        }
                        Ok(x)
                    },
                    |x| {
                        done.push(x);
                        Ok(())
                    },
                );
                assert!(matches!(r, Err(Error::Internal(m)) if m == want), "{r:?}");
                if !slow_fail {
                    assert_eq!(done, [1, 2, 3]);
                }
            }
        }
    }

    /// A panicking job does not leave the other threads waiting for its
    /// turn: the panic comes back to the caller.
    #[test]
    fn a_panic_does_not_hang_the_others() {
        for threads in [2, 4] {
            let mut i = 0u32;
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                ordered_map(
                    threads,
                    || {
                        i += 1;
                        Ok((i <= 50).then_some(i))
                    },
                    |x| {
                        assert!(x != 5, "job 5 panics");
                        Ok(x)
                    },
                    |_| Ok(()),
                )
            }));
            assert!(r.is_err());
        }
    }
}
