//! HLS muxing of a 10 s 640x360 30 fps H.264 + AAC clip (FLV tag bodies -> TS segments), the
//! per-stream work on the owner core: `cargo bench --bench ts`. The clip is made once with
//! ffmpeg in Cargo's target tmp dir.

use std::hint::black_box;
use std::path::Path;
use std::process::Command;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use livego::flv::reader::{FlvReader, Tag};
use livego::hls::{Segment, Segmenter, SegmenterConfig};

fn clip() -> Vec<Tag> {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ts_bench_10s.flv");
    if !path.exists() {
        let status = Command::new("ffmpeg")
            .args([
                "-v",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=640x360:rate=30",
            ])
            .args([
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:sample_rate=44100",
                "-t",
                "10",
            ])
            .args([
                "-c:v", "libx264", "-preset", "veryfast", "-g", "60", "-b:v", "1500k",
            ])
            .args(["-c:a", "aac", "-b:a", "128k", "-f", "flv"])
            .arg(&path)
            .status()
            .expect("ffmpeg is installed");
        assert!(status.success());
    }
    let mut reader = FlvReader::new();
    reader.push(&std::fs::read(path).unwrap());
    std::iter::from_fn(|| reader.next_tag().unwrap()).collect()
}

fn mux_clip(c: &mut Criterion) {
    let tags = clip();
    let bytes: usize = tags.iter().map(|t| t.body.len()).sum();
    let mux = || {
        let mut segmenter = Segmenter::new(SegmenterConfig {
            fragment_ms: 2000,
            window: 5,
            keep_after_end: false,
        });
        let mut segments: Vec<Segment> = tags
            .iter()
            .filter_map(|t| segmenter.push(t.tag_type, t.timestamp, black_box(&t.body)))
            .collect();
        segments.extend(segmenter.end_session());
        segments
    };
    let segments = mux();
    let out: usize = segments.iter().map(|s| s.data.len()).sum();
    assert_eq!(segments.len(), 5);
    println!(
        "{} tags, {bytes} bytes of FLV bodies -> {out} bytes of TS",
        tags.len()
    );
    let mut group = c.benchmark_group("ts");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("segment_10s_clip", |b| b.iter(mux));
    group.finish();
}

criterion_group!(benches, mux_clip);
criterion_main!(benches);
