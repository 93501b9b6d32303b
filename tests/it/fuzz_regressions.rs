//! The inputs fuzzing found (fuzz/regressions/TARGET/*), replayed in the normal suite with the
//! memory bound their fuzz target enforces: heap bytes live at the peak, per input byte. Each
//! was an amplification: a hostile peer's bytes multiplied into server memory.
//!
//! - chunk_reader/partial_prealloc_64x64KiB: 64 partial messages each reserved 64 KiB at their
//!   first chunk (854 bytes -> 4.2 MB).
//! - chunk_reader/empty_data_frames_in_gop: zero-length data messages (1 wire byte each) became
//!   ~150-byte cached frames (rtmp_session/empty_data_frames_in_gop is the same bug reached
//!   through the session; the fuzz target replays it).
//! - hls_segmenter/sps_repeated_per_keyframe: 64 KB parameter sets repeated before every
//!   keyframe (72 KB -> 67 MB of segments).
//!
//! The inputs are laid out as their targets read them (see the header of
//! fuzz/fuzz_targets/TARGET.rs); only the paths that found these bugs are replayed here: the
//! chunk reader's ingest mode (chunks -> messages -> frames -> GOP cache) and the segmenter.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};

use bytes::{Bytes, BytesMut};
use livego::hls::segmenter::{Segmenter, SegmenterConfig};
use livego::rtmp::chunk::ChunkReader;
use livego::stream::gop::GopCache;
use livego::stream::ingest::frame_from_message;

/// Forwards to the system allocator, counting the live bytes and their peak of the thread
/// in [`peak_during`] only: this is the allocator of the whole test binary, whose other tests
/// allocate on their own threads meanwhile.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

thread_local! {
    /// Whether this thread's allocations are counted (no destructor, no allocation: usable
    /// inside the allocator).
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

fn counted() -> bool {
    COUNTED.try_with(Cell::get).unwrap_or(false)
}

// SAFETY: every call is forwarded unchanged to `System`; the counters are plain atomics and a
// const thread-local without a destructor.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() && counted() {
            let now = LIVE.fetch_add(layout.size() as isize, Relaxed) + layout.size() as isize;
            PEAK.fetch_max(now, Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        if counted() {
            LIVE.fetch_sub(layout.size() as isize, Relaxed);
        }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Peak heap growth of this thread while `run` runs (the code replayed is single-threaded);
/// the tests of this file take turns (`SERIAL`), since the counters are global.
fn peak_during(run: impl FnOnce()) -> usize {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let before = LIVE.load(Relaxed);
    PEAK.store(before, Relaxed);
    COUNTED.set(true);
    run();
    COUNTED.set(false);
    (PEAK.load(Relaxed) - before).max(0) as usize
}

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("entry").path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).expect("read input"))
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no inputs in {}", dir.display());
    files
}

/// What a publisher's bytes may cost: 32 bytes of heap per byte sent, plus a socket read
/// buffer's worth (the chunk_reader target's bound).
const RTMP_PER_BYTE: usize = 32;
const RTMP_BASE: usize = 128 * 1024;

/// Feeds `wire` to a chunk reader with message limit `limit` and every media or data message
/// into a GOP cache, kept until the end: what a publisher can make the server hold.
fn ingest(wire: &[u8], limit: usize) {
    let mut reader = ChunkReader::new(limit);
    let mut gop = GopCache::new(1);
    let mut buf = BytesMut::from(wire);
    while let Ok(Some(msg)) = reader.read_message(&mut buf) {
        if let Ok(frame) = frame_from_message(msg.type_id, msg.timestamp, msg.payload) {
            let frame = Arc::new(frame);
            frame.rtmp();
            gop.push(&frame);
        }
    }
    drop(gop);
}

#[test]
fn chunk_reader_findings_stay_within_their_bound() {
    const LIMITS: [usize; 4] = [128, 4096, 65536, 16 << 20];
    for (name, data) in inputs("chunk_reader") {
        // [mode][split][limit][chunk stream]
        let limit = LIMITS[usize::from(data[2] % 4)];
        let wire = &data[3..];
        let peak = peak_during(|| ingest(wire, limit));
        let bound = RTMP_PER_BYTE * data.len() + RTMP_BASE;
        assert!(
            peak <= bound,
            "{name}: {peak} bytes for {} input bytes",
            data.len()
        );
    }
}

#[test]
fn hls_segmenter_findings_stay_within_their_bound() {
    // The hls_segmenter target's bound: 64 bytes of heap per input byte, plus 1 MiB.
    const FRAGMENTS: [u32; 4] = [0, 1, 100, 5000];
    for (name, data) in inputs("hls_segmenter") {
        // [mode][frames: [k][step?][len: u8, or u16 if k & 0x20][body]]
        let mode = data[0] >> 1;
        let fragment = FRAGMENTS[usize::from(mode & 3)];
        let window = usize::from(mode >> 2 & 3) + 1;
        let peak = peak_during(|| {
            let config = SegmenterConfig {
                fragment_ms: fragment,
                window,
                keep_after_end: false,
            };
            let mut segmenter = Segmenter::new(config);
            let mut kept = std::collections::VecDeque::new();
            let (mut rest, mut ts) = (&data[1..], 0u32);
            while let Some((&k, tail)) = rest.split_first() {
                rest = tail;
                let tag_type = match k & 3 {
                    0 => 9,
                    1 => 8,
                    2 => 18,
                    _ => {
                        kept.extend(segmenter.end_session());
                        continue;
                    }
                };
                let take = |rest: &mut &[u8], n: usize| -> Vec<u8> {
                    let (head, tail) = rest.split_at(n.min(rest.len()));
                    *rest = tail;
                    head.to_vec()
                };
                let step = match k >> 2 & 7 {
                    0 => 0,
                    1 => 1,
                    2 => 33,
                    3 => 1000,
                    4 => fragment,
                    5 => 500u32.wrapping_neg(),
                    6 => 1 << 31,
                    _ => {
                        let b = take(&mut rest, 4);
                        b.iter().fold(0u32, |v, &x| v << 8 | u32::from(x))
                    }
                };
                ts = if k >> 2 & 7 == 7 {
                    step
                } else {
                    ts.wrapping_add(step)
                };
                let len = if k & 0x20 != 0 {
                    let b = take(&mut rest, 2);
                    b.iter().fold(0usize, |v, &x| v << 8 | usize::from(x))
                } else {
                    usize::from(take(&mut rest, 1).first().copied().unwrap_or(0))
                };
                let body = Bytes::from(take(&mut rest, len));
                kept.extend(segmenter.push(tag_type, ts, &body));
                while kept.len() > window {
                    kept.pop_front();
                }
            }
            kept.extend(segmenter.end_session());
        });
        let bound = 64 * data.len() + (1 << 20);
        assert!(
            peak <= bound,
            "{name}: {peak} bytes for {} input bytes",
            data.len()
        );
    }
}
