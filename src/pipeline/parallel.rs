//! An ordered, bounded, parallel map: jobs are produced in order on the
//! calling thread, transformed on worker threads, and consumed in the same
//! order. At most `in_flight` jobs exist at once, so memory stays flat
//! whatever the input size.

use std::collections::BTreeMap;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};

/// Run `produce` → `work` (on `threads` workers) → `consume` in order.
///
/// `produce` returns `Ok(None)` when done. The first error from any stage
/// stops the pipeline and is returned.
pub fn ordered_map<J, O, P, W, C>(
    threads: usize,
    in_flight: usize,
    mut produce: P,
    work: W,
    mut consume: C,
) -> Result<()>
where
    J: Send,
    O: Send,
    P: FnMut() -> Result<Option<J>>,
    W: Fn(J) -> Result<O> + Sync,
    C: FnMut(O) -> Result<()> + Send,
{
    if threads <= 1 {
        while let Some(job) = produce()? {
            consume(work(job)?)?;
        }
        return Ok(());
    }
    let in_flight = in_flight.max(threads);
    std::thread::scope(|scope| {
        let (job_tx, job_rx) = sync_channel::<(u64, J)>(in_flight);
        let job_rx = Arc::new(Mutex::new(job_rx));
        let (out_tx, out_rx) = sync_channel::<(u64, Result<O>)>(in_flight);
        // Credits bound the jobs between the producer and the consumer.
        let (credit_tx, credit_rx) = sync_channel::<()>(in_flight);
        for _ in 0..in_flight {
            let _ = credit_tx.send(());
        }
        for _ in 0..threads {
            let rx = Arc::clone(&job_rx);
            let tx = out_tx.clone();
            let work = &work;
            scope.spawn(move || loop {
                let next = match rx.lock() {
                    Ok(guard) => guard.recv(),
                    Err(_) => return,
                };
                let Ok((seq, job)) = next else { return };
                if tx.send((seq, work(job))).is_err() {
                    return;
                }
            });
        }
        drop(out_tx);
        let consumer = scope.spawn(move || consume_in_order(out_rx, credit_tx, &mut consume));
        let mut seq = 0u64;
        let produced = loop {
            if credit_rx.recv().is_err() {
                break Ok(()); // consumer stopped: its result says why
            }
            match produce() {
                Ok(Some(job)) => {
                    if job_tx.send((seq, job)).is_err() {
                        break Ok(());
                    }
                    seq += 1;
                }
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        drop(job_tx);
        drop(credit_rx);
        let consumed = consumer
            .join()
            .unwrap_or(Err(Error::Internal("a pipeline thread panicked")));
        produced.and(consumed)
    })
}

fn consume_in_order<O, C>(
    rx: Receiver<(u64, Result<O>)>,
    credits: std::sync::mpsc::SyncSender<()>,
    consume: &mut C,
) -> Result<()>
where
    C: FnMut(O) -> Result<()>,
{
    let mut pending = BTreeMap::new();
    let mut next = 0u64;
    for (seq, out) in rx {
        pending.insert(seq, out);
        while let Some(out) = pending.remove(&next) {
            consume(out?)?;
            next += 1;
            let _ = credits.send(());
        }
    }
    Ok(())
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
                3,
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
                3,
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
}
