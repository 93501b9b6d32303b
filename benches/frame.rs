//! Serialising one frame for every output (RTMP chunks + FLV tag), once per frame on the owner
//! core: `cargo bench --bench frame`.

use std::hint::black_box;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use livego::stream::{Frame, FrameKind};

fn frame_serialisation(c: &mut Criterion) {
    let mut group = c.benchmark_group("frame");
    for (name, len) in [
        ("audio_400B", 400),
        ("video_6KB", 6 * 1024),
        ("keyframe_100KB", 100 * 1024),
    ] {
        let body = Bytes::from(vec![0x27u8; len]);
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                let frame = Frame::new(
                    FrameKind::Video,
                    black_box(123_456),
                    false,
                    false,
                    body.clone(),
                );
                // Built when the stream has players (always, in this benchmark's sense).
                frame.rtmp();
                frame
            })
        });
    }
    group.finish();
}

criterion_group!(benches, frame_serialisation);
criterion_main!(benches);
