//! Waiting on AWS: a check run at the pace of `crate::poll` until it says done, or the deadline
//! passes with the last state seen named in the error; and the bound on how many calls and
//! waits run at once.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::error::Error;

/// How many AWS calls or waits run at once: independent resources go concurrently, within what
/// the APIs' rate limits take comfortably.
const CONCURRENCY: usize = 8;

/// Runs the futures concurrently, at most `CONCURRENCY` at a time; the first error stops them.
pub(super) async fn bounded<T, F>(futures: impl IntoIterator<Item = F>) -> Result<Vec<T>, Error>
where
    F: Future<Output = Result<T, Error>>,
{
    use futures::{StreamExt, TryStreamExt};
    futures::stream::iter(futures)
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await
}

/// What a check saw: done (with a value), or still waiting (with the state it is in).
pub(super) enum Poll<T> {
    Done(T),
    Waiting(String),
}

pub(super) async fn until<T, F, Fut>(
    what: &str,
    deadline: Duration,
    mut check: F,
) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>, Error>>,
{
    // In proportion to the time waited: a 20-minute MSK wait makes a call every 10 s at most.
    let mut pace = crate::poll::Poll::proportional(
        deadline,
        Duration::from_millis(50),
        Duration::from_secs(10),
    );
    loop {
        match check().await? {
            Poll::Done(value) => return Ok(value),
            Poll::Waiting(state) => {
                if !pace.tick().await {
                    return Err(Error::user(format!(
                        "{what} did not finish within {}s; last state: {state}",
                        deadline.as_secs()
                    )));
                }
            }
        }
    }
}

/// Says what a long wait sees each time it changes, with the time so far, so a 20-minute
/// creation shows it is moving.
pub(super) struct Progress<'a> {
    printer: &'a crate::output::Printer,
    what: String,
    last: std::sync::Mutex<String>,
    started: Instant,
}

impl<'a> Progress<'a> {
    pub(super) fn new(printer: &'a crate::output::Printer, what: impl Into<String>) -> Self {
        Progress {
            printer,
            what: what.into(),
            last: std::sync::Mutex::new(String::new()),
            started: Instant::now(),
        }
    }

    pub(super) fn saw(&self, state: &str) {
        let mut last = self.last.lock().expect("not poisoned");
        if *last != state {
            self.printer.status(&format!(
                "  … {}: {state} ({}s)",
                self.what,
                self.started.elapsed().as_secs()
            ));
            *last = state.to_string();
        }
    }
}

/// Waits until a deleted resource is gone. `state` reads it: its state while it exists, `None`
/// once the service no longer knows it.
pub(super) async fn until_gone<F, Fut>(
    what: &str,
    deadline: Duration,
    mut state: F,
) -> Result<(), Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<String>, Error>>,
{
    until(&format!("deleting {what}"), deadline, || {
        let state = state();
        async move {
            Ok(match state.await? {
                None => Poll::Done(()),
                Some(state) => Poll::Waiting(state),
            })
        }
    })
    .await
}
