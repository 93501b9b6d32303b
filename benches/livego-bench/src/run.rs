//! One run: open the publishers, let them warm up, join the players at the configured pace,
//! stop everyone at the deadline and summarise. A single glommio executor on the calling
//! thread (pin it with `taskset`); one task per connection.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_lite::future;
use glommio::{LocalExecutorBuilder, Placement, Task};
use livego::rtmp::client::{Role, RtmpUrl};
use serde_json::{Value, json};

use crate::args::Options;
use crate::hist::Histogram;
use crate::hls_probe;
use crate::net::open_rtmp;
use crate::player::{self, Shared, Spec};
use crate::publisher::{self, Publisher, PublisherState};
use crate::report::{self, Entry, Totals};
use crate::schedule::Schedule;
use crate::stats::PlayerStats;

pub fn run(options: Options) -> Result<Value, String> {
    let executor = LocalExecutorBuilder::new(Placement::Unbound)
        .name("livego-bench")
        .make()
        .map_err(|e| format!("cannot start the glommio executor: {e}"))?;
    executor.run(drive(options))
}

/// Runs `work` as a task of its own, cancelled at `deadline`.
fn spawn_until(work: impl Future<Output = ()> + 'static, deadline: Instant) -> Task<()> {
    glommio::spawn_local(future::or(work, sleep_until(deadline)))
}

async fn sleep_until(at: Instant) {
    glommio::timer::sleep(at.saturating_duration_since(Instant::now())).await;
}

/// The stream name of publisher `i` of `n`.
fn stream_name(base: &str, i: usize, n: usize) -> String {
    if n == 1 {
        return base.to_string();
    }
    match base.split_once('?') {
        Some((name, query)) => format!("{name}-{i}?{query}"),
        None => format!("{base}-{i}"),
    }
}

/// The HTTP-FLV URL of publisher `i` of `n`: `-i` before `.flv`.
fn http_url(base: &str, i: usize, n: usize) -> String {
    match base.rsplit_once(".flv") {
        Some((head, tail)) if n > 1 => format!("{head}-{i}.flv{tail}"),
        _ => base.to_string(),
    }
}

async fn drive(o: Options) -> Result<Value, String> {
    let started = Instant::now();
    let url = RtmpUrl::parse(&o.url)?;
    let n = o.publishers;
    let shared = Rc::new(Shared::new()?);
    // Every connection's reads wait on it, from the first handshake on; it ends with the run.
    let ready = shared.ready.clone();
    let _readiness = match o.tick {
        Some(tick) => glommio::spawn_local(ready.run_every(tick)),
        None => glommio::spawn_local(ready.run()),
    };
    let schedule = match &o.flv {
        Some(path) => {
            let file = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
            Some(Schedule::from_flv(&file).map_err(|e| format!("{}: {e}", path.display()))?)
        }
        None => None,
    };
    let bitrate = schedule
        .as_ref()
        .map_or(o.bitrate_kbps * 1000.0, Schedule::bitrate);
    // All publishers connect at once (one after the other would take N round trips).
    let mut opening = Vec::new();
    if schedule.is_some() {
        for i in 0..n {
            let mut target = url.clone();
            target.stream = stream_name(&url.stream, i, n);
            let what = format!("publish to {}/{}", url.tc_url, target.stream);
            let ready = shared.ready.clone();
            opening.push(glommio::spawn_local(async move {
                open_rtmp(target, Role::Publish, 4096, &ready)
                    .await
                    .map_err(|e| format!("{what}: {e}"))
            }));
        }
    }
    let mut opened = Vec::new();
    for task in opening {
        opened.push(task.await?);
    }
    let join_at = Instant::now()
        + if opened.is_empty() {
            Duration::ZERO
        } else {
            o.warmup
        };
    let deadline = join_at + o.duration;
    let mut tasks = Vec::new();
    let mut publishers = Vec::new();
    let count = opened.len();
    for (i, conn) in opened.into_iter().enumerate() {
        let schedule = schedule.clone().ok_or("publisher without a file")?;
        let publisher = Rc::new(Publisher::new(conn, i, count, schedule, Instant::now()));
        let receiving = publisher.clone();
        let receive = async move { receiving.receive().await };
        tasks.push(spawn_until(receive, deadline));
        publishers.push(publisher);
    }
    let pacer = publisher::pace(publishers.clone(), shared.probe.clone());
    tasks.push(spawn_until(pacer, deadline));
    let publishers: Vec<Rc<PublisherState>> = publishers.iter().map(|p| p.state.clone()).collect();
    let total = o.players + o.http_players;
    let mut players = Vec::new();
    for k in 0..total {
        let stats = Rc::new(RefCell::new(PlayerStats::default()));
        let slow = k >= total - o.slow_players.min(total);
        let spec = Spec {
            publisher: k % n,
            probe: !slow && o.probe_players.is_none_or(|p| k < p),
            rate_limit: slow.then_some(bitrate / 8.0 * o.slow_rate),
        };
        players.push((stats.clone(), slow, k % n));
        let start = join_at + o.join_interval * k as u32;
        let (shared, stats) = (shared.clone(), stats.clone());
        let play: std::pin::Pin<Box<dyn std::future::Future<Output = ()>>> = if k < o.players {
            let mut target = url.clone();
            target.stream = stream_name(&url.stream, k % n, n);
            Box::pin(player::rtmp(target, spec, shared, stats))
        } else {
            let base = o.http_flv.as_deref().unwrap_or_default();
            Box::pin(player::http_flv(
                http_url(base, k % n, n),
                spec,
                shared,
                stats,
            ))
        };
        let run = async move {
            sleep_until(start).await;
            play.await
        };
        tasks.push(spawn_until(run, deadline));
    }
    let hls_samples = Rc::new(RefCell::new(Histogram::default()));
    if let (Some(url), Some(first)) = (&o.hls, publishers.first()) {
        let probe = hls_probe::run(
            url.clone(),
            first.last_keyframe_at.clone(),
            hls_samples.clone(),
            shared.ready.clone(),
        );
        let probe = async move {
            if let Err(e) = probe.await {
                eprintln!("hls probe: {e}");
            }
        };
        tasks.push(spawn_until(probe, deadline));
    }
    for task in tasks {
        task.await;
    }
    let play_secs = deadline.saturating_duration_since(join_at).as_secs_f64();
    let mut stats: Vec<_> = players.iter().map(|(s, _, _)| s.borrow().clone()).collect();
    for s in stats
        .iter_mut()
        .filter(|s| !s.playing() && s.failed.is_none())
    {
        s.failed = Some("not playing by the end of the run".into());
    }
    let entries: Vec<Entry> = players
        .iter()
        .zip(&stats)
        .map(|((_, slow, p), stats)| Entry {
            stats,
            slow: *slow,
            publisher_ts: publishers.get(*p).map(|s| s.last_ts.get()),
        })
        .collect();
    let publisher_json: Vec<Value> = publishers
        .iter()
        .map(|p| {
            json!({
                "bytes": p.bytes.get(),
                "video_frames": p.video_frames.get(),
                "last_ts": p.last_ts.get(),
                "error": *p.error.borrow(),
            })
        })
        .collect();
    let publishing = publishers
        .iter()
        .filter(|p| p.error.borrow().is_none() && p.video_frames.get() > 0)
        .count();
    let totals = Totals {
        latency: shared.latency.borrow().clone(),
        audio_latency: shared.audio_latency.borrow().clone(),
        play_secs,
        wall_secs: started.elapsed().as_secs_f64(),
        cpu_secs: report::cpu_secs(),
        hls_segment: o.hls.is_some().then(|| hls_samples.borrow().clone()),
        publishers: json!({
            "stream_kbps": bitrate / 1000.0,
            "publishing": publishing,
            "each": publisher_json,
        }),
    };
    Ok(report::summarize(&entries, &totals))
}
