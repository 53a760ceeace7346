//! Scanning with a real ClamAV daemon (Debian's `clamav-daemon`, installed by `.ci/run`) and with
//! fake daemons that misbehave. There is no network to fetch ClamAV's databases, so the test
//! writes its own: an `.ndb` file with an EICAR body signature and a custom one. The test FAILS
//! when clamd cannot be found or started: it never skips.
//!
//! Checks the clamd socket protocol (`zINSTREAM`, `stream: ... FOUND` / `OK`, `... ERROR`) as
//! ClamAV 1.x's clamd speaks it (clamd(8), "INSTREAM").

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use herald_light_client::scan::{
    ClamdAddress, ClamdConfig, ClamdError, ClamdScanner, ClamdVerdict, EICAR, MailContent,
    QuarantineReason, RuleSet, SignatureScanner, load_signatures,
};
use herald_proto::policy::{Attachment, Part};

/// A pattern only this test's databases know.
const CUSTOM: &[u8] = b"HERALD-CUSTOM-TEST-SIGNATURE-7f3a";
/// How long clamd may take to load the tiny database and answer PING.
const START_WAIT: Duration = Duration::from_secs(30);

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A clamd process of this test, killed and reaped on drop.
struct Clamd {
    child: Child,
    dir: tempfile::TempDir,
    socket: PathBuf,
    tcp: SocketAddr,
}

impl Drop for Clamd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn clamd_binary() -> PathBuf {
    let candidates = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|d| d.join("clamd"));
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .expect("clamd is not installed (apt-get install clamav-daemon; .ci/run installs it)")
}

fn free_loopback_port() -> SocketAddr {
    // clamd takes no port 0: take one the OS hands out, and give it back for clamd to bind.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

impl Clamd {
    fn start() -> Clamd {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("db");
        std::fs::create_dir(&db).unwrap();
        std::fs::write(
            db.join("herald.ndb"),
            format!(
                "Herald.Test.EICAR:0:*:{}\nHerald.Test.Custom:0:*:{}\n",
                hex(EICAR),
                hex(CUSTOM)
            ),
        )
        .unwrap();
        let socket = dir.path().join("clamd.sock");
        let tcp = free_loopback_port();
        let conf = dir.path().join("clamd.conf");
        std::fs::write(
            &conf,
            format!(
                "Foreground yes\nLocalSocket {sock}\nTCPSocket {port}\nTCPAddr 127.0.0.1\n\
                 DatabaseDirectory {db}\nLogFile {log}\nPidFile {pid}\nTemporaryDirectory {tmp}\n\
                 StreamMaxLength 1M\nMaxThreads 2\n",
                sock = socket.display(),
                port = tcp.port(),
                db = db.display(),
                log = dir.path().join("clamd.log").display(),
                pid = dir.path().join("clamd.pid").display(),
                tmp = dir.path().display(),
            ),
        )
        .unwrap();
        let child = Command::new(clamd_binary())
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("clamd starts");
        let mut clamd = Clamd {
            child,
            dir,
            socket,
            tcp,
        };
        clamd.wait_ready();
        clamd
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("clamd.log")).unwrap_or_default()
    }

    fn wait_ready(&mut self) {
        let started = Instant::now();
        let unix = scanner(
            ClamdAddress::Unix(self.socket.clone()),
            Duration::from_secs(2),
        );
        let tcp = scanner(ClamdAddress::Tcp(self.tcp), Duration::from_secs(2));
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("clamd exited with {status}:\n{}", self.log());
            }
            if unix.ping().is_ok() && tcp.ping().is_ok() {
                return;
            }
            assert!(
                started.elapsed() < START_WAIT,
                "clamd did not answer PING within {START_WAIT:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn scanner(address: ClamdAddress, timeout: Duration) -> ClamdScanner {
    ClamdScanner::new(ClamdConfig {
        timeout,
        max_stream_bytes: 4 * 1024 * 1024,
        ..ClamdConfig::new(address)
    })
    .unwrap()
}

fn mail_with(data: &[u8]) -> MailContent {
    MailContent {
        subject: "report".into(),
        body: b"Hello Bob, the report is attached.".to_vec(),
        attachments: vec![Attachment::new(
            "report.bin",
            "application/octet-stream",
            data.to_vec(),
        )],
    }
}

fn found(verdict: Result<ClamdVerdict, ClamdError>) -> String {
    match verdict {
        Ok(ClamdVerdict::Found(name)) => name,
        other => panic!("expected a signature, got {other:?}"),
    }
}

#[test]
fn eicar_is_caught_by_clamd_and_the_builtin_scanner_and_a_clean_mail_passes_both() {
    let clamd = Clamd::start();
    let started = Instant::now();
    for address in [
        ClamdAddress::Unix(clamd.socket.clone()),
        ClamdAddress::Tcp(clamd.tcp),
    ] {
        let scanner = scanner(address, Duration::from_secs(10));
        assert!(found(scanner.scan_stream(EICAR)).starts_with("Herald.Test.EICAR"));
        let mut hidden = vec![b'x'; 200_000];
        hidden[150_000..150_000 + CUSTOM.len()].copy_from_slice(CUSTOM);
        // Across INSTREAM chunks (64 KiB each).
        assert!(found(scanner.scan_stream(&hidden)).starts_with("Herald.Test.Custom"));
        assert_eq!(
            scanner.scan_stream(b"nothing to see here").unwrap(),
            ClamdVerdict::Clean
        );
        assert_eq!(scanner.scan_stream(b"").unwrap(), ClamdVerdict::Clean);

        // The mail content's inspection with clamd as its scanner.
        let rules = RuleSet::default();
        match mail_with(EICAR).inspect(&rules, &scanner) {
            Err(QuarantineReason::Malware {
                scanner,
                signature,
                part,
            }) => {
                assert_eq!(scanner, "clamd");
                assert!(signature.starts_with("Herald.Test.EICAR"));
                assert_eq!(part, Part::Attachment(0));
            }
            other => panic!("EICAR mail not quarantined by clamd: {other:?}"),
        }
        assert_eq!(
            mail_with(b"quarterly figures").inspect(&rules, &scanner),
            Ok(())
        );

        // clamd's own stream limit (StreamMaxLength 1M) is a typed error, not a verdict.
        match scanner.scan_stream(&vec![b'a'; 2 * 1024 * 1024]) {
            Err(ClamdError::Clamd(message)) => assert!(message.contains("size limit"), "{message}"),
            other => panic!("expected clamd's size-limit error, got {other:?}"),
        }
    }

    // The built-in scanner with the same custom signature as a Herald signature file.
    let file = clamd.dir.path().join("herald.sigs");
    std::fs::write(
        &file,
        format!("# test\nHerald.Test.Custom:{}\n", hex(CUSTOM)),
    )
    .unwrap();
    let builtin = load_signatures(&file).unwrap();
    let rules = RuleSet::default();
    assert!(matches!(
        mail_with(EICAR).inspect(&rules, &builtin),
        Err(QuarantineReason::Malware { .. })
    ));
    assert!(matches!(
        mail_with(CUSTOM).inspect(&rules, &builtin),
        Err(QuarantineReason::Malware { signature, .. }) if signature == "Herald.Test.Custom"
    ));
    assert_eq!(
        mail_with(b"quarterly figures").inspect(&rules, &SignatureScanner::default()),
        Ok(())
    );
    // Scans against a loaded clamd are quick; loading was the slow part.
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn malformed_signature_file_is_refused_with_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.sigs");
    std::fs::write(&file, "good:deadbeef\nbad line\n").unwrap();
    let err = load_signatures(&file).unwrap_err();
    assert!(err.to_string().contains("line 2"), "{err}");
    std::fs::write(&file, vec![b'#'; 2 * 1024 * 1024]).unwrap();
    assert!(load_signatures(&file).is_err());
}

/// A fake clamd on loopback TCP that reads the request and answers with `reply` (or, with
/// `None`, never answers while the connection stays open).
fn fake_clamd(reply: Option<Vec<u8>>) -> (SocketAddr, std::thread::JoinHandle<()>) {
    fake_clamd_answering(move |stream| match reply {
        Some(reply) => {
            let _ = stream.write_all(&reply);
        }
        // Hung: hold the connection until the client gives up.
        None => {
            let _ = stream.read(&mut [0u8; 4096]);
        }
    })
}

/// A fake clamd on loopback TCP that reads the request and then has `answer` answer it.
fn fake_clamd_answering(
    answer: impl FnOnce(&mut TcpStream) + Send + 'static,
) -> (SocketAddr, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0u8; 4096];
        // Read until the request's terminating zero-length chunk.
        let mut seen = Vec::new();
        while !seen.ends_with(&[0, 0, 0, 0]) {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
        answer(&mut stream);
    });
    (addr, handle)
}

#[test]
fn a_clamd_trickling_its_reply_is_bounded_by_the_whole_exchange() {
    // A byte every 50 ms, never the reply's terminating zero (at most 100: a bounded loop):
    // each read waits far less than the timeout, so only the exchange's deadline ends it.
    let (addr, fake) = fake_clamd_answering(|stream| {
        for byte in b"stream: ".iter().chain(&[b'x'; 92]) {
            std::thread::sleep(Duration::from_millis(50));
            if stream.write_all(&[*byte]).is_err() {
                return;
            }
        }
    });
    let timeout = Duration::from_millis(300);
    let scanner = scanner(ClamdAddress::Tcp(addr), timeout);
    let started = Instant::now();
    let result = scanner.scan_stream(b"data");
    let waited = started.elapsed();
    assert!(
        matches!(result, Err(ClamdError::Timeout(after)) if after == timeout),
        "{result:?}"
    );
    // The reply's deadline: one timeout per chunk sent and two more (here 3 x 300 ms).
    assert!(
        waited >= timeout && waited < Duration::from_secs(2),
        "{waited:?}"
    );
    drop(scanner);
    fake.join().unwrap();
}

#[test]
fn hung_clamd_is_bounded_by_the_timeout() {
    let (addr, fake) = fake_clamd(None);
    let scanner = scanner(ClamdAddress::Tcp(addr), Duration::from_millis(300));
    let started = Instant::now();
    let result = scanner.scan_stream(b"data");
    assert!(matches!(result, Err(ClamdError::Timeout(_))), "{result:?}");
    // One timeout per chunk sent plus two for the reply, at most.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    drop(scanner);
    fake.join().unwrap();
}

#[test]
fn oversized_clamd_reply_is_bounded() {
    let (addr, fake) = fake_clamd(Some(vec![b'A'; 100_000]));
    let scanner = scanner(ClamdAddress::Tcp(addr), Duration::from_secs(5));
    assert!(matches!(
        scanner.scan_stream(b"data"),
        Err(ClamdError::ReplyTooLong)
    ));
    fake.join().unwrap();
}

#[test]
fn malformed_clamd_reply_is_a_typed_error() {
    let (addr, fake) = fake_clamd(Some(b"stream: \x01weird FOUND\0".to_vec()));
    let scanner = scanner(ClamdAddress::Tcp(addr), Duration::from_secs(5));
    assert!(matches!(
        scanner.scan_stream(b"data"),
        Err(ClamdError::BadReply(_))
    ));
    fake.join().unwrap();
}

#[test]
fn a_missing_clamd_is_unavailable_not_clean() {
    let dir = tempfile::tempdir().unwrap();
    let scanner = scanner(
        ClamdAddress::Unix(Path::new(dir.path()).join("none.sock")),
        Duration::from_secs(1),
    );
    assert!(matches!(
        mail_with(b"x").inspect(&RuleSet::default(), &scanner),
        Err(QuarantineReason::NotScanned { .. })
    ));
}
