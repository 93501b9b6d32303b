//! `max_connections`: a process-wide count of open client connections (all cores, all
//! protocols). A connection over the limit is closed at once after accept.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Debug)]
pub struct ConnectionLimit {
    open: AtomicUsize,
    /// 0 = unlimited.
    max: usize,
}

/// Held by an open connection; releases its slot when dropped.
#[derive(Debug)]
pub struct Slot(Arc<ConnectionLimit>);

impl ConnectionLimit {
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(ConnectionLimit {
            open: AtomicUsize::new(0),
            max,
        })
    }

    pub fn try_acquire(self: &Arc<Self>) -> Option<Slot> {
        let open = self.open.fetch_add(1, Ordering::Relaxed);
        if self.max != 0 && open >= self.max {
            self.open.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        Some(Slot(self.clone()))
    }

    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_limited_and_released() {
        let limit = ConnectionLimit::new(2);
        let a = limit.try_acquire().expect("first");
        let _b = limit.try_acquire().expect("second");
        assert!(limit.try_acquire().is_none());
        drop(a);
        assert!(limit.try_acquire().is_some());
    }

    #[test]
    fn zero_means_unlimited() {
        let limit = ConnectionLimit::new(0);
        let slots: Vec<_> = (0..1000).filter_map(|_| limit.try_acquire()).collect();
        assert_eq!(slots.len(), 1000);
        assert_eq!(limit.open(), 1000);
    }
}
