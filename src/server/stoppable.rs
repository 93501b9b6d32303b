//! Tasks that stop themselves when their handle is dropped ([`spawn`]), where glommio would
//! cancel them — because glommio 0.9 never frees a task cancelled while it waits.
//!
//! Dropping a pending `glommio::Task` cancels it: `JoinHandle::cancel` counts one reference
//! for the run that will drop the future, then schedules that run through
//! `RawTask::schedule`, which counts another. The future is dropped (its sockets close), but
//! the count never returns to zero and the task's allocation stays for good: ~450 bytes per
//! HTTP-FLV player that hung up, found with heaptrack behind the soak test's growth. A
//! [`Stoppable`] instead fires a stop signal that its task races its work against (polled
//! first), so the task completes by itself and glommio frees it as any finished task, and
//! then detaches it.

use std::cell::Cell;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use futures_lite::future;
use glommio::Task;

/// A spawned future; dropping this before it completes makes it stop at its next await.
pub struct Stoppable<T> {
    task: Option<Task<Option<T>>>,
    stop: Rc<StopSignal>,
}

#[derive(Default)]
struct StopSignal {
    fired: Cell<bool>,
    waiter: Cell<Option<Waker>>,
}

impl StopSignal {
    fn fire(&self) {
        self.fired.set(true);
        if let Some(waker) = self.waiter.take() {
            waker.wake();
        }
    }

    async fn fired(&self) {
        poll_fn(|cx| {
            if self.fired.get() {
                return Poll::Ready(());
            }
            // Polled at every wake-up of the task: keep the waker it already has.
            let waker = match self.waiter.take() {
                Some(waker) if waker.will_wake(cx.waker()) => waker,
                _ => cx.waker().clone(),
            };
            self.waiter.set(Some(waker));
            Poll::Pending
        })
        .await
    }
}

/// Run `work` as a task of its own on this core (started right away, as `spawn_local` does).
pub fn spawn<T: 'static>(work: impl Future<Output = T> + 'static) -> Stoppable<T> {
    let stop = Rc::new(StopSignal::default());
    let signal = stop.clone();
    let task = glommio::spawn_local(async move {
        let stopped = async {
            signal.fired().await;
            None
        };
        future::or(stopped, async { Some(work.await) }).await
    });
    Stoppable {
        task: Some(task),
        stop,
    }
}

impl<T> Future for Stoppable<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let task = self.task.as_mut().expect("polled after completion");
        Pin::new(task).poll(cx).map(|output| {
            // Only a dropped handle fires the signal, and a dropped handle is not polled.
            output.expect("a task stops only when its handle is dropped")
        })
    }
}

impl<T> Drop for Stoppable<T> {
    fn drop(&mut self) {
        // Wakes the task (unless it has completed), so that it is scheduled when detached:
        // glommio then lets it run, stop and be freed.
        self.stop.fire();
        if let Some(task) = self.task.take() {
            drop(task.detach());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;
    use std::time::Duration;

    use glommio::LocalExecutorBuilder;

    use super::*;

    /// The system allocator, counting the bytes live per thread, so a test can see what its
    /// executor (on its own thread) leaves behind.
    struct Counting;

    thread_local! {
        static LIVE: Cell<isize> = const { Cell::new(0) };
    }

    fn count(delta: isize) {
        // `try_with`: allocations while the thread's locals are torn down are not counted.
        let _ = LIVE.try_with(|live| live.set(live.get() + delta));
    }

    // SAFETY: every call is forwarded to `System` unchanged; counting does not allocate.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            count(layout.size() as isize);
            // SAFETY: the caller's contract, passed on.
            unsafe { System.alloc(layout) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            count(-(layout.size() as isize));
            // SAFETY: the caller's contract, passed on.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    #[global_allocator]
    static COUNTING: Counting = Counting;

    fn live_bytes() -> isize {
        LIVE.with(Cell::get)
    }

    /// Where a waiting task leaves its waker.
    type WakerSlot = Rc<Cell<Option<Waker>>>;

    /// Bytes left allocated on an executor's thread after `rounds` tasks were spawned, left
    /// waiting for a waker held outside them, and had their handles dropped by `drop_handle`.
    fn left_behind(drop_handle: fn(WakerSlot) -> Box<dyn FnOnce()>) -> isize {
        LocalExecutorBuilder::default()
            .spawn(move || async move {
                // The first pass warms up what the executor keeps (queues, timers).
                let mut left = 0;
                for _ in 0..2 {
                    let before = live_bytes();
                    for _ in 0..1000 {
                        let waker = Rc::new(Cell::new(None));
                        drop_handle(waker.clone())();
                        glommio::timer::sleep(Duration::ZERO).await;
                        drop(waker);
                    }
                    glommio::timer::sleep(Duration::from_millis(1)).await;
                    left = live_bytes() - before;
                }
                left
            })
            .expect("executor")
            .join()
            .expect("join")
    }

    /// A task that waits until woken through `slot`, holding the slot meanwhile (as a writer
    /// holds its outbox, which holds its waker).
    async fn wait_on(slot: WakerSlot) {
        poll_fn(|cx| {
            slot.set(Some(cx.waker().clone()));
            Poll::<()>::Pending
        })
        .await
    }

    #[test]
    fn glommio_leaks_a_task_cancelled_while_it_waits() {
        // The reason for this module: if this starts failing, glommio frees cancelled tasks
        // and `Stoppable` can go.
        let leaked = left_behind(|slot| {
            let task = glommio::spawn_local(wait_on(slot));
            Box::new(move || drop(task))
        });
        assert!(leaked >= 1000 * 64, "{leaked} bytes left by 1000 tasks");
    }

    #[test]
    fn a_dropped_stoppable_task_stops_and_is_freed() {
        let leaked = left_behind(|slot| {
            let task = spawn(wait_on(slot));
            Box::new(move || drop(task))
        });
        assert!(leaked < 1000, "{leaked} bytes left by 1000 tasks");
    }

    #[test]
    fn a_stoppable_task_yields_its_output() {
        let output = LocalExecutorBuilder::default()
            .spawn(|| async {
                let task = spawn(async {
                    glommio::timer::sleep(Duration::from_millis(1)).await;
                    7
                });
                task.await
            })
            .expect("executor")
            .join()
            .expect("join");
        assert_eq!(output, 7);
    }
}
