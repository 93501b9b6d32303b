//! Shared by every fuzz target: a counting global allocator with a per-input memory bound, and
//! small helpers to carve a fuzz input into pieces and fields.
//!
//! Memory bound: [`bounded`] runs one input's processing and then asserts that the peak of live
//! heap bytes reached during it (above what was live when it started) is at most
//! `a * input_len + b`; [`bounded_retained`] also bounds what is still allocated afterwards
//! (what a server would keep, e.g. a GOP cache). Each target picks `a` (bytes of heap a hostile
//! input byte may cost) and `b` (fixed overhead) as named constants with their reasoning. A
//! violation panics, which libFuzzer reports as a crash, like any other panic.
//!
//! Environment: `LIVEGO_FUZZ_NO_ALLOC_BOUND=1` only measures (to look for other bugs behind a
//! known amplification); `LIVEGO_FUZZ_ALLOC_REPORT=1` prints every new worst peak/input ratio;
//! `LIVEGO_FUZZ_TRACE_ALLOC=N` prints a backtrace for every allocation of N bytes or more.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicU8, AtomicUsize, Ordering::Relaxed};

/// Forwards to the system allocator, counting live bytes and their peak.
pub struct Counting;

static CURRENT: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

fn grew(by: usize) {
    let now = CURRENT.fetch_add(by as isize, Relaxed) + by as isize;
    PEAK.fetch_max(now, Relaxed);
    let trace = TRACE.load(Relaxed);
    if trace > 0 && by >= trace && !TRACING.swap(true, Relaxed) {
        // Not reentrant: capturing and printing the backtrace allocates too.
        eprintln!(
            "alloc trace: {by} bytes (live {now})\n{}",
            std::backtrace::Backtrace::force_capture()
        );
        TRACING.store(false, Relaxed);
    }
}

/// Allocations of at least this many bytes print a backtrace (LIVEGO_FUZZ_TRACE_ALLOC=N, for
/// finding where a reproducer's memory goes; 0 = off).
static TRACE: AtomicUsize = AtomicUsize::new(0);
static TRACING: AtomicBool = AtomicBool::new(false);

fn shrank(by: usize) {
    CURRENT.fetch_sub(by as isize, Relaxed);
}

// SAFETY: every call is forwarded unchanged to `System`; the counters are plain atomics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    /// Counted as the net change: a growing `Vec` costs its new capacity, not old + new.
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                shrank(layout.size() - new_size);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// 0 = not read yet, 1 = enforce, 2 = measure only.
static MODE: AtomicU8 = AtomicU8::new(0);
static REPORT: AtomicU8 = AtomicU8::new(0);
/// Worst peak per input byte seen so far, in 1/1000 bytes (for LIVEGO_FUZZ_ALLOC_REPORT).
static WORST: AtomicUsize = AtomicUsize::new(0);

fn enforce() -> bool {
    if MODE.load(Relaxed) == 0 {
        let off = std::env::var_os("LIVEGO_FUZZ_NO_ALLOC_BOUND").is_some_and(|v| v != "0");
        let report = std::env::var_os("LIVEGO_FUZZ_ALLOC_REPORT").is_some_and(|v| v != "0");
        let trace = std::env::var("LIVEGO_FUZZ_TRACE_ALLOC")
            .ok()
            .and_then(|v| v.parse().ok());
        MODE.store(if off { 2 } else { 1 }, Relaxed);
        REPORT.store(u8::from(report), Relaxed);
        TRACE.store(trace.unwrap_or(0), Relaxed);
    }
    MODE.load(Relaxed) == 1
}

/// Heap bytes a processing step may peak at: `per_byte * input_len + base`.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    pub per_byte: usize,
    pub base: usize,
}

impl Bound {
    pub const fn new(per_byte: usize, base: usize) -> Self {
        Bound { per_byte, base }
    }

    pub fn limit(self, input_len: usize) -> usize {
        self.per_byte * input_len + self.base
    }
}

/// Runs `f` (one input's processing), then asserts its peak heap use stayed within `bound` for
/// `input_len` bytes of input. Returns what `f` returned (drop it outside if it is large).
pub fn bounded<R>(what: &str, input_len: usize, bound: Bound, f: impl FnOnce() -> R) -> R {
    bounded_retained(what, input_len, bound, None, f)
}

/// [`bounded`], and if `retained` is given, also asserts that what is still allocated when `f`
/// has returned (what `f` returned: e.g. a cache the input filled) is within it. Transient
/// decoding work may legitimately take more than what a server keeps for the same bytes.
pub fn bounded_retained<R>(
    what: &str,
    input_len: usize,
    bound: Bound,
    retained: Option<Bound>,
    f: impl FnOnce() -> R,
) -> R {
    let enforce = enforce();
    let start = CURRENT.load(Relaxed);
    PEAK.store(start, Relaxed);
    let result = f();
    let kept = (CURRENT.load(Relaxed) - start).max(0) as usize;
    if let Some(retained) = retained {
        let limit = retained.limit(input_len);
        if enforce && kept > limit {
            panic!(
                "retained memory bound exceeded in {what}: {kept} bytes still allocated after \
                 {input_len} bytes of input; bound {} * {input_len} + {} = {limit}",
                retained.per_byte, retained.base
            );
        }
    }
    let peak = (PEAK.load(Relaxed) - start).max(0) as usize;
    if REPORT.load(Relaxed) == 1 {
        let ratio = peak.saturating_sub(bound.base) * 1000 / input_len.max(1);
        if ratio > WORST.fetch_max(ratio, Relaxed) {
            eprintln!(
                "alloc report {what}: peak {peak} B, kept {kept} B for {input_len} B input \
                 ({:.1} B/byte over base)",
                ratio as f64 / 1000.0
            );
        }
    }
    let limit = bound.limit(input_len);
    if enforce && peak > limit {
        panic!(
            "memory bound exceeded in {what}: peak {peak} bytes allocated for {input_len} bytes \
             of input; bound {} * {input_len} + {} = {limit}",
            bound.per_byte, bound.base
        );
    }
    result
}

/// Reads fields off the front of a fuzz input; past its end every read yields zeros / empty.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    pub data: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Input { data }
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    pub fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }

    pub fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    /// Up to `n` bytes (fewer at the end of the input).
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (taken, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        taken
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }
}

/// Splits `data` into pieces chosen by `mode`: whole, single bytes, or pseudo-random sizes up
/// to 7, 64, 1536 or 4096 bytes (xorshift seeded by `mode`). Lazy: it allocates nothing, so it
/// does not count against a target's memory bound.
pub fn split(data: &[u8], mode: u8) -> Split<'_> {
    let max = match mode % 6 {
        0 => usize::MAX,
        1 => 1,
        2 => 7,
        3 => 64,
        4 => 1536,
        _ => 4096,
    };
    Split {
        rest: data,
        max,
        x: u32::from(mode) | 0x9E37_7900,
    }
}

pub struct Split<'a> {
    rest: &'a [u8],
    max: usize,
    x: u32,
}

impl<'a> Iterator for Split<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() {
            return None;
        }
        self.x ^= self.x << 13;
        self.x ^= self.x >> 17;
        self.x ^= self.x << 5;
        let n = match self.max {
            usize::MAX => self.rest.len(),
            max => (self.x as usize % max + 1).min(self.rest.len()),
        };
        let (now, later) = self.rest.split_at(n);
        self.rest = later;
        Some(now)
    }
}

/// AMF helpers for the amf0/amf3 targets.
pub mod amf {
    use livego::amf::Value;

    /// Structural equality with numbers compared bit for bit: encoding keeps every f64 bit
    /// pattern (so NaN equals the same NaN, and -0.0 differs from 0.0).
    pub fn same(a: &Value, b: &Value) -> bool {
        use Value::{
            Boolean, ByteArray, Date, EcmaArray, Integer, Null, Number, Object, StrictArray,
            TypedObject, Undefined, Xml, XmlDocument,
        };
        let props = |a: &[(std::string::String, Value)], b: &[(std::string::String, Value)]| {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|((ka, va), (kb, vb))| ka == kb && same(va, vb))
        };
        match (a, b) {
            (Number(x), Number(y)) => x.to_bits() == y.to_bits(),
            (
                Date {
                    millis: x,
                    timezone: tx,
                },
                Date {
                    millis: y,
                    timezone: ty,
                },
            ) => x.to_bits() == y.to_bits() && tx == ty,
            (Object(x), Object(y)) | (EcmaArray(x), EcmaArray(y)) => props(x, y),
            (
                TypedObject {
                    class: cx,
                    props: px,
                },
                TypedObject {
                    class: cy,
                    props: py,
                },
            ) => cx == cy && props(px, py),
            (StrictArray(x), StrictArray(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
            }
            (Boolean(x), Boolean(y)) => x == y,
            (Value::String(x), Value::String(y))
            | (XmlDocument(x), XmlDocument(y))
            | (Xml(x), Xml(y)) => x == y,
            (ByteArray(x), ByteArray(y)) => x == y,
            (Integer(x), Integer(y)) => x == y,
            (Null, Null) | (Undefined, Undefined) => true,
            _ => false,
        }
    }

    /// What AMF0 encoding then decoding makes of `v` (src/amf/amf0.rs: `Integer` is written as
    /// a number, names and class names are cut to 65535 bytes at a character boundary).
    pub fn amf0_normal(v: &Value) -> Value {
        let name = |s: &str| s[..s.floor_char_boundary(usize::from(u16::MAX))].to_string();
        let props =
            |p: &[(String, Value)]| p.iter().map(|(k, v)| (name(k), amf0_normal(v))).collect();
        match v {
            Value::Integer(i) => Value::Number(f64::from(*i)),
            Value::Object(p) => Value::Object(props(p)),
            Value::EcmaArray(p) => Value::EcmaArray(props(p)),
            Value::TypedObject { class, props: p } => Value::TypedObject {
                class: name(class),
                props: props(p),
            },
            Value::StrictArray(items) => {
                Value::StrictArray(items.iter().map(amf0_normal).collect())
            }
            other => other.clone(),
        }
    }
}

/// `{:?}` of `v`, cut to 300 characters: panic messages stay readable for huge values.
pub fn short(v: &impl std::fmt::Debug) -> String {
    let s = format!("{v:?}");
    match s.char_indices().nth(300) {
        Some((i, _)) => format!("{}... ({} chars)", &s[..i], s.chars().count()),
        None => s,
    }
}
