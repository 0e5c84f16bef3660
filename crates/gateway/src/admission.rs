//! Admission of a request on the data listener, in two phases.
//!
//! 1. **Unauthenticated**: from its arrival until its body is complete, a
//!    request holds one of `max_unauthenticated_in_flight` slots. Its body
//!    must be complete within `body_read_timeout` and, after a short grace,
//!    keep an average of `min_body_bytes_per_sec`. Its first
//!    `unauthenticated_allowance_bytes` are covered by its slot; bytes past
//!    that are reserved from a buffer shared by all requests, and a body that
//!    finds no room there is refused. A webhook's signature covers the whole
//!    body, so this phase is everything an unsigned sender can make us do.
//! 2. **Work**: once the body is complete the slot is given back and one of
//!    `max_in_flight` work slots is taken (an unsigned request leaves it at
//!    once, when its signature fails). Reserved buffer bytes stay reserved
//!    until the request is answered: they are still in memory.
//!
//! Limits act through [`AdmittedBody`], the body the handler reads: when one
//! trips, the body reports it to the guard (which answers the request itself)
//! and stops, so the handler never sees a half body as a bad request.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use http_body::{Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use tokio::time::{Instant, Sleep};

use crate::RequestLimits;
use crate::events::{InFlight, Limit, Phase as InFlightPhase};

/// The slots and the shared buffer of one data listener.
pub(crate) struct Pools {
    pub(crate) limits: RequestLimits,
    work: Arc<Semaphore>,
    unauthenticated: Arc<Semaphore>,
    shared_buffer: Arc<Semaphore>,
}

impl Pools {
    pub(crate) fn new(limits: RequestLimits) -> Self {
        Self {
            work: Arc::new(Semaphore::new(limits.max_in_flight)),
            unauthenticated: Arc::new(Semaphore::new(limits.max_unauthenticated_in_flight)),
            shared_buffer: Arc::new(Semaphore::new(
                limits
                    .shared_unauthenticated_buffer_bytes()
                    .min(Semaphore::MAX_PERMITS),
            )),
            limits,
        }
    }

    /// Takes an unauthenticated slot for a request whose body declares
    /// `declared_bytes` (its `Content-Length`, 0 when unknown), or says which
    /// limit refuses it. A declared size that cannot fit in the shared
    /// buffer now is refused before a byte is read.
    pub(crate) fn admit(self: &Arc<Self>, declared_bytes: u64) -> Result<Admission, Limit> {
        let slot = Arc::clone(&self.unauthenticated)
            .try_acquire_owned()
            .map_err(|_| Limit::MaxUnauthenticatedInFlight)?;
        let allowance = self.limits.unauthenticated_allowance_bytes as u64;
        let beyond_allowance = declared_bytes.saturating_sub(allowance);
        if beyond_allowance > self.shared_buffer.available_permits() as u64 {
            return Err(Limit::MaxUnauthenticatedBufferBytes);
        }
        let (failure_tx, failure_rx) = oneshot::channel();
        let state = Arc::new(Mutex::new(State {
            slot: Some((slot, InFlight::enter(InFlightPhase::Unauthenticated))),
            work: None,
            reserved: None,
            reserved_bytes: 0,
            received_bytes: 0,
            failure: Some(failure_tx),
        }));
        Ok(Admission {
            pools: Arc::clone(self),
            state,
            failure: failure_rx,
        })
    }
}

/// What one request holds; released when the guard drops it (the answer
/// was given), whatever the handler did with the body.
pub(crate) struct Admission {
    pools: Arc<Pools>,
    state: Arc<Mutex<State>>,
    /// Fires when the body tripped a limit.
    pub(crate) failure: oneshot::Receiver<Limit>,
}

impl Admission {
    /// Wraps `body` so that reading it enforces the limits.
    pub(crate) fn body(&self, body: Body, started: Instant) -> Body {
        let mut admitted = AdmittedBody {
            inner: body,
            pools: Arc::clone(&self.pools),
            state: Arc::clone(&self.state),
            started,
            received: 0,
            clock: Box::pin(tokio::time::sleep_until(started)),
            phase: Phase::Reading,
        };
        let (first_check, _) = admitted.next_check();
        admitted.clock.as_mut().reset(first_check);
        Body::new(admitted)
    }

    /// Body bytes received so far.
    pub(crate) fn received_bytes(&self) -> u64 {
        lock(&self.state).received_bytes
    }
}

struct State {
    /// Held while the body is being read.
    slot: Option<(OwnedSemaphorePermit, InFlight)>,
    /// Held from the end of the body until the answer.
    work: Option<(OwnedSemaphorePermit, InFlight)>,
    /// Shared buffer bytes reserved for this body.
    reserved: Option<OwnedSemaphorePermit>,
    reserved_bytes: u64,
    received_bytes: u64,
    failure: Option<oneshot::Sender<Limit>>,
}

/// The state is never locked across an `.await`; a panic while it was held
/// leaves nothing half-done that matters, so a poisoned lock is used as is.
fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Reading,
    Done,
    Failed,
}

/// The request body as the handler sees it: the bytes of the connection,
/// with the read deadline, the minimum rate and the buffer budget enforced.
struct AdmittedBody {
    inner: Body,
    pools: Arc<Pools>,
    state: Arc<Mutex<State>>,
    started: Instant,
    received: u64,
    /// Fires at the next moment the body would be too slow.
    clock: Pin<Box<Sleep>>,
    phase: Phase,
}

impl AdmittedBody {
    /// When the body next has to have made progress, and which limit says so:
    /// the read deadline, or the moment the average rate since the grace
    /// would fall below the minimum.
    fn next_check(&self) -> (Instant, Limit) {
        let limits = &self.pools.limits;
        let deadline = self.started + limits.body_read_timeout;
        if limits.min_body_bytes_per_sec == 0 {
            return (deadline, Limit::BodyReadTimeout);
        }
        let earned =
            Duration::from_secs_f64(self.received as f64 / limits.min_body_bytes_per_sec as f64);
        let too_slow = self.started + limits.min_rate_grace + earned;
        if too_slow < deadline {
            (too_slow, Limit::MinBodyRate)
        } else {
            (deadline, Limit::BodyReadTimeout)
        }
    }

    /// Makes sure `self.received` bytes are covered: by the slot's allowance,
    /// else by reserving more of the shared buffer (in allowance-sized steps).
    fn cover_received(&mut self) -> Result<(), Limit> {
        let allowance = self.pools.limits.unauthenticated_allowance_bytes as u64;
        let mut state = lock(&self.state);
        state.received_bytes = self.received;
        let covered = allowance + state.reserved_bytes;
        if self.received <= covered {
            return Ok(());
        }
        let needed = self.received - covered;
        let step = needed.div_ceil(allowance.max(1)) * allowance.max(1);
        let shared = &self.pools.shared_buffer;
        let (permit, bytes) = [step, needed]
            .into_iter()
            .find_map(|bytes| {
                let permits = u32::try_from(bytes).ok()?;
                let permit = Arc::clone(shared).try_acquire_many_owned(permits).ok()?;
                Some((permit, bytes))
            })
            .ok_or(Limit::MaxUnauthenticatedBufferBytes)?;
        state.reserved_bytes += bytes;
        match &mut state.reserved {
            Some(reserved) => reserved.merge(permit),
            None => state.reserved = Some(permit),
        }
        Ok(())
    }

    /// The body is complete: give back the unauthenticated slot, take a work slot.
    fn finish(&mut self) -> Result<(), Limit> {
        let mut state = lock(&self.state);
        state.slot = None;
        let work = Arc::clone(&self.pools.work)
            .try_acquire_owned()
            .map_err(|_| Limit::MaxInFlight)?;
        state.work = Some((work, InFlight::enter(InFlightPhase::Work)));
        Ok(())
    }

    /// Hands `limit` to the guard, which answers the request and drops the
    /// handler; until then the body yields nothing more. Without a guard to
    /// tell (it never happens), the handler gets a read error instead.
    fn fail(&mut self, limit: Limit) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        self.phase = Phase::Failed;
        let sender = lock(&self.state).failure.take();
        match sender.map(|sender| sender.send(limit)) {
            Some(Ok(())) => Poll::Pending,
            _ => Poll::Ready(Some(Err(axum::Error::new(format!(
                "request body refused: {} reached",
                limit.as_str()
            ))))),
        }
    }
}

impl HttpBody for AdmittedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        match this.phase {
            Phase::Failed => return Poll::Pending,
            Phase::Done => return Poll::Ready(None),
            Phase::Reading => {}
        }
        // Data that is there is taken before the clock is looked at, so a
        // process that was slow to poll never blames the client.
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.received += data.len() as u64;
                    if let Err(limit) = this.cover_received() {
                        return this.fail(limit);
                    }
                    let (next, _) = this.next_check();
                    this.clock.as_mut().reset(next);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(None) => {
                this.phase = Phase::Done;
                match this.finish() {
                    Ok(()) => Poll::Ready(None),
                    Err(limit) => this.fail(limit),
                }
            }
            Poll::Ready(Some(Err(error))) => Poll::Ready(Some(Err(error))),
            Poll::Pending => match this.clock.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    let (_, limit) = this.next_check();
                    this.fail(limit)
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        // Not the inner body's answer: the end must be polled, so that the
        // request moves from its unauthenticated slot to a work slot.
        self.phase == Phase::Done
    }

    fn size_hint(&self) -> SizeHint {
        // The declared length, so the reader can preallocate (after checking it).
        self.inner.size_hint()
    }
}

/// The declared body length of a request, from its body's size hint (hyper
/// derives it from `Content-Length`).
pub(crate) fn declared_length(body: &Body) -> u64 {
    body.size_hint().lower()
}
