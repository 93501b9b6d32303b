//! FLV archive (`flv_archive: true`): each published stream is recorded to
//! `flv_dir/{app}/{name}_{unixtime}.flv`, a file that plays from its start (metadata, sequence
//! headers, keyframe first, timestamps from 0) and is complete after an unpublish and after a
//! SIGTERM mid-stream.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::{Publisher, Server, analyze, default_clip, live_stream, wait_until};

fn archive_config(server_dir: &Path) -> String {
    format!(
        "flv_archive: true\nflv_dir: \"{}\"\n",
        server_dir.join("flv").display()
    )
}

/// The recordings of `name` under the server's flv_dir/live.
fn recordings(dir: &Path, name: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir.join("flv").join("live")) else {
        return Vec::new();
    };
    let prefix = format!("{name}_");
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let file = p.file_name().and_then(|f| f.to_str()).unwrap_or("");
            file.starts_with(&prefix) && file.ends_with(".flv")
        })
        .collect();
    files.sort();
    files
}

#[test]
fn published_stream_is_archived_and_plays() {
    let dir = crate::common::TestDir::new("archive");
    let server = Server::start(&archive_config(dir.path()));
    let url = server.rtmp_url("rec");
    let mut publisher = Publisher::start_for(&url, &default_clip(), 8.0);
    let status = publisher.wait_exit(Duration::from_secs(30));
    assert!(
        status.is_some_and(|s| s.success()),
        "publisher: {}",
        publisher.log()
    );
    let closed = |log: String| {
        log.lines()
            .any(|l| l.contains("archive ") && l.contains("/rec_") && l.ends_with(" closed"))
    };
    assert!(
        wait_until(Duration::from_secs(10), || closed(server.log())),
        "no log line saying the recording was closed: {}",
        server.log()
    );
    let files = recordings(dir.path(), "rec");
    assert_eq!(files.len(), 1, "one recording per session: {files:?}");
    analyze(&files[0]).assert_clean(7.0);
    assert!(server.is_alive());
}

#[test]
fn archive_is_complete_after_sigterm() {
    let dir = crate::common::TestDir::new("archive-term");
    let server = Server::start(&archive_config(dir.path()));
    let (_url, _publisher) = live_stream(&server, "cut");
    // SIGTERM mid-stream, a few seconds in (the subject)
    std::thread::sleep(Duration::from_secs(5));
    let (status, took) = server.stop_gracefully();
    assert!(
        status.is_some_and(|s| s.success()),
        "exit {status:?} after {took:?}"
    );
    let files = recordings(dir.path(), "cut");
    assert_eq!(files.len(), 1, "{files:?}");
    analyze(&files[0]).assert_clean(3.0);
}

#[test]
fn unwritable_archive_dir_does_not_stop_the_stream() {
    // flv_dir under a regular file: creating the directory fails.
    let dir = crate::common::TestDir::new("archive-bad");
    let blocker = dir.path().join("flv");
    std::fs::write(&blocker, b"not a directory").expect("write blocker file");
    let server = Server::start(&archive_config(dir.path()));
    let (url, mut publisher) = live_stream(&server, "nodisk");
    // played once the archive has failed
    assert!(
        wait_until(Duration::from_secs(10), || server
            .log()
            .contains("archive stopped")),
        "no log line says the archive stopped: {}",
        server.log()
    );
    let played = crate::common::play_ffmpeg(&url, 5.0, &server.path("play.flv"));
    played.assert_clean(4.0);
    publisher.assert_running("publisher");
    assert!(
        server.log().contains("archive stopped"),
        "a log line says why"
    );
}
