//! Starts `moto_server` on a free loopback port, one process per test for isolation.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fleetkeeper::Env;
use fleetkeeper::aws::{Aws, AwsSettings};

/// The workspace root, where `make setup` puts `.venv`.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

/// `MOTO_SERVER` if set, else the project's virtualenv.
pub fn moto_server_path() -> PathBuf {
    std::env::var_os("MOTO_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/moto_server"))
}

/// A running moto server, stopped when dropped.
pub struct Moto {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Moto {
    /// Starts moto or panics with what to do; a missing moto never skips a test.
    pub fn start() -> Moto {
        Moto::start_with(&moto_server_path()).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts moto so that no request is preempted by another mid-handler. moto serves each
    /// request on a thread, and a conditional write (S3 `If-Match`) is a check and then a
    /// write in Python: a thread switch between them lets two writers both pass, which S3
    /// itself never does. A long switch interval keeps each handler whole (threads still
    /// give way whenever they wait on a socket), so a race test measures the code under test.
    pub fn start_unpreempted() -> Moto {
        let python = moto_server_path().with_file_name("python");
        let program = "import sys; sys.setswitchinterval(5.0); from moto.server import main; sys.exit(main())";
        Moto::start_command(&python, &["-c", program]).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts the given moto_server binary.
    pub fn start_with(bin: &Path) -> Result<Moto, String> {
        Moto::start_command(bin, &[])
    }

    /// Starts `program` with `args` and then moto_server's own host and port arguments.
    fn start_command(bin: &Path, args: &[&str]) -> Result<Moto, String> {
        if !bin.is_file() {
            return Err(format!(
                "moto_server not found at {}: run `make setup` (it installs moto into .venv), or set MOTO_SERVER",
                bin.display()
            ));
        }
        let mut last_err = String::new();
        // A freed port can be taken again before moto binds it; try a few.
        for _ in 0..3 {
            let port = free_port();
            let log = std::env::temp_dir().join(format!("fleetkeeper-moto-{port}.log"));
            let out = std::fs::File::create(&log).map_err(|e| e.to_string())?;
            let err = out.try_clone().map_err(|e| e.to_string())?;
            let child = Command::new(bin)
                .args(args)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .spawn()
                .map_err(|e| format!("could not run {}: {e}: run `make setup`", bin.display()))?;
            let mut moto = Moto { child, port, log };
            match moto.wait_ready(Duration::from_secs(30)) {
                Ok(()) => return Ok(moto),
                Err(e) => last_err = e,
            }
        }
        Err(last_err)
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "moto_server exited ({status}): {}",
                    self.log_tail()
                ));
            }
            if let Ok((200, _)) = self.request("GET", "/moto-api/") {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!(
            "moto_server did not answer within {timeout:?}: {}",
            self.log_tail()
        ))
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Forgets every resource in every account and region.
    pub fn reset(&self) {
        let (status, body) = self.request("POST", "/moto-api/reset").expect("moto reset");
        assert_eq!(status, 200, "moto reset failed: {body}");
    }

    /// A minimal blocking HTTP/1.1 request to moto's own API.
    pub fn request(&self, method: &str, path: &str) -> Result<(u16, String), String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(10))).ok();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .map_err(|e| e.to_string())?;
        let mut buf = String::new();
        s.read_to_string(&mut buf).map_err(|e| e.to_string())?;
        let status = buf
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| format!("no HTTP status in {buf:?}"))?;
        let body = buf
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        Ok((status, body))
    }

    /// The environment a function would see pointed at this moto (or at `endpoint`, e.g. a
    /// fault proxy in front of it), with short retry backoff so tests stay fast.
    pub fn env_for(endpoint: &str, extra: &[(&str, &str)]) -> Env {
        let mut pairs: Vec<(String, String)> = vec![
            ("AWS_ENDPOINT_URL".into(), endpoint.into()),
            ("AWS_REGION".into(), "us-east-1".into()),
            ("RETRY_INITIAL_BACKOFF_MS".into(), "5".into()),
        ];
        for (k, v) in extra {
            pairs.retain(|(pk, _)| pk != k);
            pairs.push(((*k).into(), (*v).into()));
        }
        Env::from_pairs(pairs)
    }

    pub fn env(&self, extra: &[(&str, &str)]) -> Env {
        Moto::env_for(&self.endpoint(), extra)
    }

    /// The shared loader pointed at `env`, with moto's placeholder credentials (not secrets).
    pub async fn aws(env: &Env) -> Aws {
        let settings = AwsSettings::from_env(env).expect("valid test settings");
        Aws::load_with(settings, |loader| {
            loader.credentials_provider(aws_credential_types::Credentials::new(
                "testing",
                "testing",
                None,
                None,
                "fleetkeeper-tests",
            ))
        })
        .await
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// A port the OS says is free right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}
