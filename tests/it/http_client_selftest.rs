//! The HTTP harness judged without livego: the chunked decoder and response framing on canned
//! bytes (including 1-byte reads and malformed input), the client against Python's
//! `http.server` (chunked FLV in random chunk sizes, Content-Length, close-delimited, HEAD,
//! pipelining), the deadline against a server that never answers, the raw HTTP-FLV judge on
//! a clean and a doctored clip, and the JWT signer on the jwt.io example.

use std::io::{self, BufRead, BufReader, Cursor, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use crate::common::api::sign_hs256;
use crate::common::flv::{self, TagExt as _};
use crate::common::http::{
    Body, ChunkedReader, DeadlineStream, HttpStream, Reaction, Url, exchange, http_get,
    http_request, read_response,
};
use crate::common::httpflv::{FlvRecording, TagInfo, record_http_flv};
use crate::common::{ClipKind, Proc, TestDir, free_port, test_clip, wait_until};

/// Hands out one byte per read: every parser state boundary gets exercised.
struct OneByte<R>(R);

impl<R: Read> Read for OneByte<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(1);
        self.0.read(&mut buf[..n])
    }
}

fn dechunk(bytes: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    ChunkedReader::new(Cursor::new(bytes)).read_to_end(&mut out)?;
    Ok(out)
}

fn dechunk_bytewise(bytes: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let reader = BufReader::with_capacity(1, OneByte(Cursor::new(bytes.to_vec())));
    ChunkedReader::new(reader).read_to_end(&mut out)?;
    Ok(out)
}

const WIKI: &[u8] =
    b"4\r\nWiki\r\n5;name=value\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-Trailer: 1\r\n\r\n";

#[test]
fn chunked_decoder_on_canned_bytes() {
    let want = b"Wikipedia in\r\n\r\nchunks.";
    assert_eq!(dechunk(WIKI).unwrap(), want);
    assert_eq!(dechunk_bytewise(WIKI).unwrap(), want);
    // upper/lower case hex, leading zeros, no trailers
    assert_eq!(
        dechunk(b"000A\r\n0123456789\r\nb\r\nabcdefghijk\r\n0\r\n\r\n").unwrap(),
        b"0123456789abcdefghijk"
    );
    // what follows the last chunk stays in the reader (a pipelined response)
    let mut buf = Cursor::new(b"3\r\nabc\r\n0\r\n\r\nNEXT".to_vec());
    let mut out = Vec::new();
    let mut chunked = ChunkedReader::new(&mut buf);
    chunked.read_to_end(&mut out).unwrap();
    assert_eq!(out, b"abc");
    let mut rest = String::new();
    buf.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "NEXT");

    let kind = |bytes: &[u8]| dechunk(bytes).unwrap_err().kind();
    assert_eq!(kind(b"4\r\nWiki\r\n5\r\npe"), ErrorKind::UnexpectedEof);
    assert_eq!(kind(b"4\r\nWiki\r\n"), ErrorKind::UnexpectedEof);
    assert_eq!(kind(b"zz\r\nWiki\r\n0\r\n\r\n"), ErrorKind::InvalidData);
    assert_eq!(kind(b"\r\nWiki\r\n0\r\n\r\n"), ErrorKind::InvalidData);
    assert_eq!(kind(b"4\r\nWikiXX\r\n0\r\n\r\n"), ErrorKind::InvalidData);
    assert_eq!(kind(b"4\nWiki\r\n0\r\n\r\n"), ErrorKind::InvalidData);
    assert_eq!(
        kind(b"ffffffffffffffffffff\r\nWiki\r\n0\r\n\r\n"),
        ErrorKind::InvalidData
    );
    assert_eq!(
        dechunk_bytewise(b"4\r\nWiki\r\n5\r\npe")
            .unwrap_err()
            .kind(),
        ErrorKind::UnexpectedEof
    );
}

#[test]
fn response_framing_on_canned_bytes() {
    let canned = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhello\
HTTP/1.1 404 Not Found\r\ntransfer-encoding: chunked\r\n\r\n3\r\nnot\r\n0\r\n\r\n\
HTTP/1.1 204 No Content\r\nAccess-Control-Allow-Origin: *\r\n\r\n\
HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n\
HTTP/1.0 200 OK\r\nContent-Type: video/x-flv\r\n\r\nuntil the end";
    for bytewise in [false, true] {
        let mut r: Box<dyn BufRead> = if bytewise {
            Box::new(BufReader::with_capacity(
                1,
                OneByte(Cursor::new(canned.to_vec())),
            ))
        } else {
            Box::new(Cursor::new(canned.to_vec()))
        };
        let a = read_response(&mut r, "GET").unwrap();
        assert_eq!((a.status(), a.text().as_str()), (200, "hello"));
        assert_eq!(a.header("x-a"), Some("1"));
        assert!(a.head.keeps_alive());
        let b = read_response(&mut r, "GET").unwrap();
        assert_eq!((b.status(), b.text().as_str()), (404, "not"));
        let c = read_response(&mut r, "OPTIONS").unwrap();
        assert_eq!((c.status(), c.body.len()), (204, 0));
        assert_eq!(c.header("access-control-allow-origin"), Some("*"));
        // a HEAD response announces a length it does not send
        let d = read_response(&mut r, "HEAD").unwrap();
        assert_eq!((d.status(), d.body.len()), (200, 0));
        let e = read_response(&mut r, "GET").unwrap();
        assert_eq!((e.status(), e.text().as_str()), (200, "until the end"));
        assert!(!e.head.keeps_alive());
    }
    let mut short = Cursor::new(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc".to_vec());
    assert_eq!(
        read_response(&mut short, "GET").unwrap_err().kind(),
        ErrorKind::UnexpectedEof
    );
    let mut junk = Cursor::new(b"SSH-2.0-OpenSSH\r\n\r\n".to_vec());
    assert_eq!(
        read_response(&mut junk, "GET").unwrap_err().kind(),
        ErrorKind::InvalidData
    );
    let head =
        crate::common::http::parse_head("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked")
            .unwrap();
    assert!(head.is_chunked());
    let body = Body::new(Cursor::new(b"2\r\nok\r\n0\r\n\r\n".to_vec()), &head, "GET").unwrap();
    assert!(matches!(body, Body::Chunked(_)));
    assert_eq!(
        Url::parse("http://127.0.0.1:7001/live/x.flv?a=b").unwrap(),
        Url {
            host: "127.0.0.1".into(),
            port: 7001,
            target: "/live/x.flv?a=b".into()
        }
    );
    assert_eq!(Url::parse("http://h:1").unwrap().target, "/");
}

/// Python's http.server on a free port: `/clip.flv` is the test clip in random-size chunks
/// (some with extensions, then a trailer), `/echo...` echoes the target and `X-Test` with a
/// Content-Length, `/close` is close-delimited; HTTP/1.1 keep-alive, so pipelining works.
const PY_SERVER: &str = r#"
import http.server, random, sys
clip = open(sys.argv[2], "rb").read()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def reply(self, head_only):
        if self.path == "/clip.flv":
            self.send_response(200)
            self.send_header("Content-Type", "video/x-flv")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            if head_only:
                return
            rnd = random.Random(7)
            i = 0
            while i < len(clip):
                part = clip[i:i + rnd.randint(1, 70000)]
                i += len(part)
                ext = b";x=y" if rnd.random() < 0.1 else b""
                self.wfile.write(b"%x%s\r\n%s\r\n" % (len(part), ext, part))
            self.wfile.write(b"0\r\nX-Trailer: 1\r\n\r\n")
        elif self.path.startswith("/echo"):
            body = (self.path + "|" + self.headers.get("X-Test", "")).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head_only:
                self.wfile.write(body)
        elif self.path == "/close":
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            if not head_only:
                self.wfile.write(b"until close")
        else:
            self.send_error(404)
    def do_GET(self):
        self.reply(False)
    def do_HEAD(self):
        self.reply(True)
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"#;

fn python_server(dir: &TestDir) -> (Proc, u16) {
    let script = dir.join("server.py");
    std::fs::write(&script, PY_SERVER).unwrap();
    let port = free_port();
    let mut cmd = Command::new("python3");
    cmd.arg(&script)
        .arg(port.to_string())
        .arg(test_clip(ClipKind::H264Aac, 30));
    let mut proc = Proc::spawn(&mut cmd, "python http.server", dir.join("server.log"));
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listening = wait_until(Duration::from_secs(10), || {
        assert!(proc.is_running(), "python server exited: {}", proc.log());
        TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
    });
    assert!(listening, "python server not listening");
    (proc, port)
}

#[test]
fn client_against_python_http_server() {
    let dir = TestDir::new("py-http");
    let (_server, port) = python_server(&dir);
    let base = format!("http://127.0.0.1:{port}");

    let r = http_get(&format!("{base}/echo?q=1"), &[("X-Test", "yes")]);
    assert_eq!((r.status(), r.text().as_str()), (200, "/echo?q=1|yes"));
    let r = http_get(&format!("{base}/close"), &[]);
    assert_eq!((r.status(), r.text().as_str()), (200, "until close"));
    assert_eq!(http_get(&format!("{base}/missing"), &[]).status(), 404);
    let r = http_request("HEAD", &format!("{base}/echo"), &[], Duration::from_secs(5)).unwrap();
    assert_eq!((r.status(), r.body.len()), (200, 0));
    assert_eq!(r.header("content-length"), Some("6"));

    // the whole clip through chunked decoding and the FLV demuxer, tag for tag
    let clip = flv::read_file(&test_clip(ClipKind::H264Aac, 30)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut stream = HttpStream::open(
        &format!("{base}/clip.flv"),
        &[],
        Duration::from_secs(5),
        deadline,
    )
    .unwrap();
    assert!(stream.is_chunked());
    assert_eq!(stream.head.header("content-type"), Some("video/x-flv"));
    let mut tags = flv::TagStream::new(&mut stream);
    let mut got = Vec::new();
    while let Some(tag) = tags.next_tag().unwrap() {
        got.push(tag);
    }
    assert_eq!(got.len(), clip.len());
    assert!(got == clip, "tags differ from the clip's");

    // the raw HTTP-FLV judge passes the clean clip
    let rec = record_http_flv(&format!("{base}/clip.flv"), Duration::from_secs(20));
    assert!(rec.chunked);
    assert_eq!(rec.tags.len(), clip.len());
    let problems = rec.problems(29.0);
    // the server ended the stream (the clip is finite): the only complaint
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("ended early"), "{problems:?}");

    // two requests in one write: two responses, in order, on one connection
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = DeadlineStream::connect(addr, Duration::from_secs(5)).unwrap();
    s.write_all(
        b"GET /echo/1 HTTP/1.1\r\nHost: x\r\n\r\nGET /echo/2 HTTP/1.1\r\nHost: x\r\n\
          Connection: close\r\n\r\n",
    )
    .unwrap();
    let mut r = BufReader::new(s);
    assert_eq!(read_response(&mut r, "GET").unwrap().text(), "/echo/1|");
    assert_eq!(read_response(&mut r, "GET").unwrap().text(), "/echo/2|");

    // hostile-test reactions: an answer, and a close
    let reaction = exchange(addr, b"GET /nope HTTP/1.1\r\n\r\n", Duration::from_secs(5));
    assert_eq!(reaction.unwrap(), Reaction::Status(404));
}

#[test]
fn deadline_and_reactions_against_silent_and_closing_peers() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let held = thread::spawn(move || {
        // first connection: accept, read, say nothing for 4 s; second: close at once;
        // third: answer garbage
        let mut kept = Vec::new();
        for i in 0..3 {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            match i {
                0 => kept.push(s),
                1 => drop(s),
                _ => {
                    let _ = s.write_all(b"SSH-2.0-OpenSSH_9.6\r\n\r\n");
                }
            }
        }
        // the silent peer holds its connection past the client's deadline (the subject)
        thread::sleep(Duration::from_secs(4));
        drop(kept);
    });
    let url = format!("http://{addr}/x");
    let started = Instant::now();
    let err = http_request("GET", &url, &[], Duration::from_secs(1)).unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(2),
        "{took:?}"
    );
    let limit = Duration::from_secs(2);
    assert_eq!(exchange(addr, b"x", limit).unwrap(), Reaction::Closed);
    assert!(matches!(
        exchange(addr, b"x", limit).unwrap(),
        Reaction::Garbage(g) if g.starts_with("SSH")
    ));
    held.join().unwrap();
}

/// The raw judge on doctored tag lists: one lost video frame, a late start (first frame not
/// a keyframe), timestamps going back, no sequence header.
#[test]
fn raw_flv_judge_catches_doctored_streams() {
    let clip = flv::read_file(&test_clip(ClipKind::H264Aac, 30)).unwrap();
    let rec = |tags: &[flv::Tag]| FlvRecording {
        url: "doctored".into(),
        status: 200,
        tags: tags.iter().map(TagInfo::of).collect(),
        ..FlvRecording::default()
    };
    assert_eq!(rec(&clip).problems(29.0), Vec::<String>::new());
    assert!(
        rec(&clip).problems(31.0)[0].contains("covers"),
        "too short not caught"
    );
    let mentions = |tags: &[flv::Tag], needle: &str| {
        let p = rec(tags).problems(1.0);
        assert!(p.iter().any(|m| m.contains(needle)), "{needle}: {p:?}");
    };

    let frames: Vec<usize> = (0..clip.len())
        .filter(|&i| clip[i].is_video_frame())
        .collect();
    let mut lost = clip.clone();
    lost.remove(frames[100]);
    mentions(&lost, "video timestamp hole");

    let mut lost_audio = clip.clone();
    let audio = (0..clip.len())
        .filter(|&i| clip[i].is_audio_frame())
        .nth(200)
        .unwrap();
    lost_audio.remove(audio);
    mentions(&lost_audio, "audio timestamp hole");

    // keep the head (script, sequence headers), drop the first keyframe's GOP start
    let mut late = clip.clone();
    late.remove(frames[0]);
    mentions(&late, "not a keyframe");

    let mut back = clip.clone();
    back[frames[300]].timestamp = back[frames[299]].timestamp;
    mentions(&back, "video timestamps go backwards");

    let no_seq: Vec<flv::Tag> = clip
        .iter()
        .filter(|t| !t.is_video_seq_header())
        .cloned()
        .collect();
    mentions(&no_seq, "video sequence header");

    let no_meta: Vec<flv::Tag> = clip
        .iter()
        .filter(|t| t.tag_type != flv::SCRIPT)
        .cloned()
        .collect();
    mentions(&no_meta, "no script data");
}

#[test]
fn jwt_signer_matches_jwt_io_example() {
    let token = sign_hs256(
        r#"{"sub":"1234567890","name":"John Doe","iat":1516239022}"#,
        "your-256-bit-secret",
    );
    assert_eq!(
        token,
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.\
         eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.\
         SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
    );
}
