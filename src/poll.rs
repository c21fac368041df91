//! The pace of every wait: a check repeated with pauses that grow (doubling from a first pause
//! up to a cap, or in proportion to the time already waited) until a deadline. A wait asks for
//! its next pause and gives up when that pause would take it past the deadline, so no wait
//! oversleeps its bound and each says why it stopped in its own words.

use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
enum Growth {
    /// Twice the last pause, up to the cap.
    Doubling { max: Duration },
    /// A twentieth of the time waited, within bounds: a wait overshoots what it waits for by
    /// about 5%, and a 20-minute wait still makes few calls.
    Proportional { min: Duration, max: Duration },
}

impl Growth {
    /// The pause after `pause`, once `waited` has passed.
    fn after(self, pause: Duration, waited: Duration) -> Duration {
        match self {
            Growth::Doubling { max } => (pause * 2).min(max),
            Growth::Proportional { min, max } => (waited / 20).clamp(min, max),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Poll {
    started: Instant,
    deadline: Duration,
    pause: Duration,
    growth: Growth,
}

impl Poll {
    /// Pauses from `first`, doubling up to `max`, for at most `deadline` in all.
    pub(crate) fn doubling(deadline: Duration, first: Duration, max: Duration) -> Self {
        Poll {
            started: Instant::now(),
            deadline,
            pause: first.min(max),
            growth: Growth::Doubling { max },
        }
    }

    /// Pauses of a twentieth of the time waited, within `min..=max`, for at most `deadline`.
    pub(crate) fn proportional(deadline: Duration, min: Duration, max: Duration) -> Self {
        Poll {
            started: Instant::now(),
            deadline,
            pause: min,
            growth: Growth::Proportional { min, max },
        }
    }

    pub(crate) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// The pause before the next check, or `None` when it would end past the deadline.
    fn next(&mut self) -> Option<Duration> {
        let pause = self.pause;
        if self.started.elapsed() + pause > self.deadline {
            return None;
        }
        self.pause = self.growth.after(pause, self.started.elapsed() + pause);
        Some(pause)
    }

    /// Sleeps the thread until the next check; false (without sleeping) when the deadline
    /// would pass first.
    pub(crate) fn sleep(&mut self) -> bool {
        self.next().map(std::thread::sleep).is_some()
    }

    /// Waits until the next check; false (without waiting) when the deadline would pass first.
    pub(crate) async fn tick(&mut self) -> bool {
        match self.next() {
            Some(pause) => {
                tokio::time::sleep(pause).await;
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_to_their_cap_and_stop_before_the_deadline() {
        let ms = Duration::from_millis;
        let mut poll = Poll::doubling(ms(1000), ms(100), ms(300));
        assert_eq!(
            [poll.next(), poll.next(), poll.next(), poll.next()],
            [Some(ms(100)), Some(ms(200)), Some(ms(300)), Some(ms(300))]
        );
        let mut spent = Poll::doubling(ms(50), ms(100), ms(300));
        assert_eq!(spent.next(), None);
        assert!(!spent.sleep());
    }

    #[test]
    fn proportional_pauses_stay_within_their_bounds() {
        let mut poll = Poll::proportional(
            Duration::from_secs(1200),
            Duration::from_millis(50),
            Duration::from_secs(10),
        );
        assert_eq!(poll.next(), Some(Duration::from_millis(50)));
        assert_eq!(poll.next(), Some(Duration::from_millis(50)));
        let growth = poll.growth;
        let s = Duration::from_secs;
        assert_eq!(growth.after(s(1), s(60)), s(3));
        assert_eq!(growth.after(s(3), s(600)), s(10));
    }
}
