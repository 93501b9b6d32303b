//! Random bytes from the kernel (getrandom(2)), for handshake filler and channel keys.

/// Fill `buf` from the OS CSPRNG. getrandom(2) does not fail for requests of this size once
/// the pool is initialised; should it fail anyway, this panics rather than hand out weak bytes.
pub fn fill(buf: &mut [u8]) {
    let mut filled = 0;
    while filled < buf.len() {
        let rest = &mut buf[filled..];
        // SAFETY: the pointer and length describe the writable slice `rest`.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n < 0 {
            let err = std::io::Error::last_os_error();
            assert!(
                err.kind() == std::io::ErrorKind::Interrupted,
                "getrandom failed: {err}"
            );
            continue;
        }
        filled += n as usize;
    }
}
