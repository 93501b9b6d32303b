//! SIGINT/SIGTERM: blocked in every thread (set before the executors start, inherited by
//! them) and taken synchronously by the main thread with sigwait(2).

/// The stop signals, blocked for the calling thread and the threads it starts afterwards.
pub struct StopSignals {
    set: libc::sigset_t,
}

pub fn block_stop_signals() -> Result<StopSignals, String> {
    // SAFETY: sigset_t is plain data initialised by sigemptyset before use; the calls only
    // read/write the set and this thread's signal mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        if rc != 0 {
            return Err(format!("cannot block SIGINT/SIGTERM: error {rc}"));
        }
        Ok(StopSignals { set })
    }
}

impl StopSignals {
    /// Block until SIGINT or SIGTERM arrives; returns its name.
    pub fn wait(&self) -> &'static str {
        loop {
            let mut signal = 0;
            // SAFETY: `self.set` is an initialised signal set, `signal` a valid out pointer.
            let rc = unsafe { libc::sigwait(&self.set, &mut signal) };
            if rc == 0 {
                return if signal == libc::SIGINT {
                    "SIGINT"
                } else {
                    "SIGTERM"
                };
            }
        }
    }
}
