//! `livego-bench` command line: `--flag VALUE` pairs, every flag documented in [`HELP`].

use std::path::PathBuf;
use std::time::Duration;

pub const HELP: &str = "\
livego-bench: RTMP / HTTP-FLV load generator for livego (one process, one thread)

usage: livego-bench --url rtmp://HOST:PORT/APP/NAME [options]

  --url URL            RTMP URL: where the publisher publishes and RTMP players play (required)
  --flv FILE           publish this FLV file in real time, looped with continuous timestamps;
                       without it nothing is published (players play an existing stream and
                       no latency is measured)
  --publishers N       publish the file N times, to NAME-0 .. NAME-{N-1}; players are spread
                       over them round-robin (default 1: NAME itself)
  --players N          RTMP players (default 0)
  --http-flv URL       HTTP-FLV URL (http://HOST:PORT/APP/NAME.flv) for --http-players
  --http-players N     HTTP-FLV players (default 0)
  --ramp-per-sec R     players joining per second (default 200)
  --join-over SECS     spread the joins evenly over SECS instead of --ramp-per-sec
  --warmup SECS        publish this long before the first player joins (default 1)
  --probe-players K    only the first K players record latency, video and audio (default: all;
                       never slow ones)
  --slow-players M     the last M players read at --slow-rate times the stream's bit rate
  --slow-rate F        read rate of slow players as a fraction of the bit rate (default 0.5)
  --bitrate-kbps K     the stream's bit rate for slow players when there is no --flv
                       (default 1000)
  --duration SECS      run this long after the first player joins (default 30)
  --tick-ms MS         players and probes learn which sockets have data every MS ms, so the
                       server under test never pays for waking the generator but latencies
                       gain up to a tick (default 1); 0: at once (exact timings, for runs
                       with few connections such as first-frame and HLS probes)
  --hls URL            poll this HLS playlist (http://HOST:PORT/APP/NAME.m3u8) every 2 ms and
                       time each new segment's appearance from the publisher's sending of the
                       keyframe that closed it (hls_segment_ms in the report)
  --help               this text

At the end one JSON object is printed on stdout: players connected/failed/disconnected,
first_frame_ms (connect -> first keyframe) p50/p95/max, latency_ms (publish -> receive of the
same video frame) p50/p99/max, audio_latency_ms (the same for audio messages),
hls_segment_ms with --hls, frame holes (a video timestamp going back or jumping > 1 s),
lagging players (last video frame > 2 s behind the publisher), delivered Mbit/s, and the
generator's own CPU time (getrusage) and share of one core.
";

#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub url: String,
    pub flv: Option<PathBuf>,
    pub publishers: usize,
    pub players: usize,
    pub http_flv: Option<String>,
    pub http_players: usize,
    /// Delay between two joins.
    pub join_interval: Duration,
    pub warmup: Duration,
    pub probe_players: Option<usize>,
    pub slow_players: usize,
    pub slow_rate: f64,
    pub bitrate_kbps: f64,
    pub duration: Duration,
    pub hls: Option<String>,
    /// How often sockets' readiness is handed out; None: as soon as there is any.
    pub tick: Option<Duration>,
}

pub enum Parsed {
    Run(Box<Options>),
    Help,
}

fn secs(flag: &str, value: &str) -> Result<Duration, String> {
    match value.parse::<f64>() {
        Ok(s) if s >= 0.0 && s.is_finite() => Ok(Duration::from_secs_f64(s)),
        _ => Err(format!(
            "{flag} {value:?}: expected seconds (a number >= 0)"
        )),
    }
}

fn number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("{flag} {value:?}: expected a number"))
}

pub fn parse(args: &[String]) -> Result<Parsed, String> {
    let mut url = None;
    let mut o = Options {
        url: String::new(),
        flv: None,
        publishers: 1,
        players: 0,
        http_flv: None,
        http_players: 0,
        join_interval: Duration::from_millis(5),
        warmup: Duration::from_secs(1),
        probe_players: None,
        slow_players: 0,
        slow_rate: 0.5,
        bitrate_kbps: 1000.0,
        duration: Duration::from_secs(30),
        hls: None,
        tick: Some(Duration::from_millis(1)),
    };
    let (mut ramp, mut join_over) = (200.0_f64, None);
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            return Ok(Parsed::Help);
        }
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value (see --help)"))?;
        match flag.as_str() {
            "--url" => url = Some(value.clone()),
            "--flv" => o.flv = Some(value.into()),
            "--publishers" => o.publishers = number(flag, value)?,
            "--players" => o.players = number(flag, value)?,
            "--http-flv" => o.http_flv = Some(value.clone()),
            "--http-players" => o.http_players = number(flag, value)?,
            "--ramp-per-sec" => ramp = number(flag, value)?,
            "--join-over" => join_over = Some(secs(flag, value)?),
            "--warmup" => o.warmup = secs(flag, value)?,
            "--probe-players" => o.probe_players = Some(number(flag, value)?),
            "--slow-players" => o.slow_players = number(flag, value)?,
            "--slow-rate" => o.slow_rate = number(flag, value)?,
            "--bitrate-kbps" => o.bitrate_kbps = number(flag, value)?,
            "--duration" => o.duration = secs(flag, value)?,
            "--hls" => o.hls = Some(value.clone()),
            "--tick-ms" => {
                let ms: f64 = number(flag, value)?;
                if !(ms >= 0.0 && ms.is_finite()) {
                    return Err(format!("{flag} {value:?}: expected milliseconds (>= 0)"));
                }
                o.tick = (ms > 0.0).then(|| Duration::from_secs_f64(ms / 1000.0));
            }
            _ => return Err(format!("unknown flag {flag:?} (see --help)")),
        }
    }
    o.url = url.ok_or("--url is required (see --help)")?;
    if o.publishers == 0 {
        return Err("--publishers must be at least 1".into());
    }
    if o.http_players > 0 && o.http_flv.is_none() {
        return Err("--http-players needs --http-flv URL".into());
    }
    if !(o.slow_rate > 0.0 && o.slow_rate.is_finite()) || o.bitrate_kbps <= 0.0 {
        return Err("--slow-rate and --bitrate-kbps must be > 0".into());
    }
    let total = o.players + o.http_players;
    o.join_interval = match join_over {
        Some(over) => over / total.max(1) as u32,
        None if ramp > 0.0 && ramp.is_finite() => Duration::from_secs_f64(1.0 / ramp),
        None => return Err("--ramp-per-sec must be > 0".into()),
    };
    Ok(Parsed::Run(Box::new(o)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &str) -> Result<Options, String> {
        let args: Vec<String> = args.split_whitespace().map(String::from).collect();
        match parse(&args)? {
            Parsed::Run(o) => Ok(*o),
            Parsed::Help => Err("help".into()),
        }
    }

    #[test]
    fn flags() {
        let o = run(
            "--url rtmp://h/a/s --players 10 --http-players 5 --http-flv http://h/a/s.flv \
                     --join-over 2 --duration 7.5 --slow-players 2 --slow-rate 0.25",
        )
        .unwrap();
        assert_eq!((o.players, o.http_players, o.slow_players), (10, 5, 2));
        assert_eq!(o.join_interval, Duration::from_secs(2) / 15);
        assert_eq!(o.duration, Duration::from_millis(7500));
        assert_eq!(o.slow_rate, 0.25);
        let o = run("--url rtmp://h/a/s --ramp-per-sec 100").unwrap();
        assert_eq!(o.join_interval, Duration::from_millis(10));
        assert!(run("--players 1").unwrap_err().contains("--url"));
        assert!(run("--url u --http-players 1").is_err());
        assert!(run("--url u --bogus 1").is_err());
        assert!(run("--url u --duration").is_err());
        assert!(run("--url u --duration -1").is_err());
        assert_eq!(run("--url u --help").unwrap_err(), "help");
        assert_eq!(run("--url u").unwrap().tick, Some(Duration::from_millis(1)));
        assert_eq!(run("--url u --tick-ms 0").unwrap().tick, None);
        assert_eq!(
            run("--url u --tick-ms 2.5").unwrap().tick,
            Some(Duration::from_micros(2500))
        );
        assert!(run("--url u --tick-ms -1").is_err());
    }
}
