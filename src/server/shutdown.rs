//! A core-local shutdown signal: connections and accept loops race their work against
//! [`Shutdown::wait`] and are dropped (cleaning up through their `Drop`s) when it fires.
//!
//! Each waiting future holds one slot, given back when it is dropped: a server that has seen
//! a million connections keeps no trace of the ones that ended, and polling a waiter is O(1)
//! however many there are. A waiter remembers the waker it registered, so the common poll (a
//! connection's task woken for its own work, racing this) touches nothing shared.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

#[derive(Default)]
pub struct Shutdown {
    fired: Cell<bool>,
    next_id: Cell<u64>,
    waiting: RefCell<HashMap<u64, Waker>>,
}

impl Shutdown {
    pub fn fire(&self) {
        self.fired.set(true);
        for (_, waker) in self.waiting.borrow_mut().drain() {
            waker.wake();
        }
    }

    /// Completes once [`Shutdown::fire`] was called.
    pub fn wait(&self) -> Wait<'_> {
        Wait {
            shutdown: self,
            id: None,
            registered: None,
        }
    }

    #[cfg(test)]
    fn waiters(&self) -> usize {
        self.waiting.borrow().len()
    }
}

pub struct Wait<'a> {
    shutdown: &'a Shutdown,
    /// This waiter's slot, once it was polled.
    id: Option<u64>,
    /// The waker in that slot.
    registered: Option<Waker>,
}

impl Future for Wait<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let shutdown = self.shutdown;
        if shutdown.fired.get() {
            return Poll::Ready(());
        }
        if self
            .registered
            .as_ref()
            .is_some_and(|waker| waker.will_wake(cx.waker()))
        {
            return Poll::Pending;
        }
        let id = *self.id.get_or_insert_with(|| {
            let id = shutdown.next_id.get();
            shutdown.next_id.set(id + 1);
            id
        });
        shutdown.waiting.borrow_mut().insert(id, cx.waker().clone());
        self.registered = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.shutdown.waiting.borrow_mut().remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    use super::*;

    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn dropped_waiters_leave_nothing_and_fire_wakes_the_rest() {
        let shutdown = Shutdown::default();
        let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        let mut kept = Box::pin(shutdown.wait());
        for _ in 0..1000 {
            // Each connection's task has a waker of its own.
            let other = Waker::from(Arc::new(CountingWaker(AtomicUsize::new(0))));
            let mut ended = Box::pin(shutdown.wait());
            let polled = ended.as_mut().poll(&mut Context::from_waker(&other));
            assert_eq!(polled, Poll::Pending);
        }
        assert_eq!(kept.as_mut().poll(&mut cx), Poll::Pending);
        assert_eq!(kept.as_mut().poll(&mut cx), Poll::Pending);
        assert_eq!(
            shutdown.waiters(),
            1,
            "one slot per live waiter, polled twice"
        );
        // Polled from another task: that task is the one woken.
        let moved = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let moved_waker = Waker::from(moved.clone());
        let polled = kept.as_mut().poll(&mut Context::from_waker(&moved_waker));
        assert_eq!(polled, Poll::Pending);
        assert_eq!(shutdown.waiters(), 1);
        shutdown.fire();
        assert_eq!(moved.0.load(Ordering::SeqCst), 1);
        assert_eq!(counter.0.load(Ordering::SeqCst), 0);
        assert_eq!(kept.as_mut().poll(&mut cx), Poll::Ready(()));
        assert_eq!(shutdown.waiters(), 0);
    }
}
