//! A small stand-in for the Lambda Runtime API, to run a function's real binary as Lambda
//! would: it hands out queued events on `GET .../invocation/next` and records what the
//! function posts back (responses, invocation errors, the init error). Blocking std I/O on a
//! thread of its own, so tests of any kind can use it.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// What the function posted, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Posted {
    /// `POST /runtime/init/error`: the `Lambda-Runtime-Function-Error-Type` header and body.
    InitError {
        error_type: Option<String>,
        body: serde_json::Value,
    },
    /// `POST /runtime/invocation/<id>/response`.
    Response {
        request_id: String,
        body: serde_json::Value,
    },
    /// `POST /runtime/invocation/<id>/error`.
    Error {
        request_id: String,
        body: serde_json::Value,
    },
}

#[derive(Default)]
struct State {
    events: VecDeque<serde_json::Value>,
    posted: Vec<(Instant, Posted)>,
    served: u64,
}

/// The stand-in, listening on a loopback port until the test ends.
#[derive(Clone)]
pub struct RuntimeApi {
    addr: String,
    state: Arc<(Mutex<State>, Condvar)>,
}

impl RuntimeApi {
    pub fn start() -> RuntimeApi {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let addr = listener.local_addr().expect("its address").to_string();
        let api = RuntimeApi {
            addr,
            state: Arc::default(),
        };
        let server = api.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let server = server.clone();
                std::thread::spawn(move || server.serve(stream));
            }
        });
        api
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Queues an event for the next `invocation/next`.
    pub fn push(&self, event: serde_json::Value) {
        let (lock, cvar) = &*self.state;
        lock.lock().unwrap().events.push_back(event);
        cvar.notify_all();
    }

    /// Waits until something is posted whose index is `n` or more, or `timeout` passes.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<(Instant, Posted)> {
        let (lock, cvar) = &*self.state;
        let deadline = Instant::now() + timeout;
        let mut state = lock.lock().unwrap();
        while state.posted.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            state = cvar.wait_timeout(state, left).unwrap().0;
        }
        state.posted.clone()
    }

    fn serve(&self, stream: TcpStream) {
        let mut reader = BufReader::new(stream.try_clone().expect("a socket"));
        let mut stream = stream;
        loop {
            let mut start = String::new();
            if reader.read_line(&mut start).unwrap_or(0) == 0 {
                return;
            }
            let mut parts = start.split_whitespace();
            let (method, path) = (
                parts.next().unwrap_or_default().to_owned(),
                parts.next().unwrap_or_default().to_owned(),
            );
            let mut headers = Vec::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                if let Some((k, v)) = line.split_once(':') {
                    headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
                }
            }
            let header = |name: &str| {
                headers
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
            };
            let len: usize = header("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0u8; len];
            if reader.read_exact(&mut body).is_err() {
                return;
            }
            let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
            let reply = if method == "GET" && path.ends_with("/runtime/invocation/next") {
                let (id, event) = self.next_event();
                let body = event.to_string();
                let deadline = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis())
                    + 60_000;
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                     lambda-runtime-aws-request-id: {id}\r\n\
                     lambda-runtime-deadline-ms: {deadline}\r\n\
                     lambda-runtime-invoked-function-arn: arn:aws:lambda:us-east-1:123456789012:function:test\r\n\
                     lambda-runtime-trace-id: Root=1-00000000-000000000000000000000000\r\n\
                     content-length: {}\r\n\r\n{body}",
                    body.len()
                )
            } else {
                let posted = if path.ends_with("/runtime/init/error") {
                    Some(Posted::InitError {
                        error_type: header("lambda-runtime-function-error-type"),
                        body: json,
                    })
                } else if let Some(rest) = path.strip_suffix("/response") {
                    Some(Posted::Response {
                        request_id: rest.rsplit('/').next().unwrap_or_default().to_owned(),
                        body: json,
                    })
                } else {
                    path.strip_suffix("/error").map(|rest| Posted::Error {
                        request_id: rest.rsplit('/').next().unwrap_or_default().to_owned(),
                        body: json,
                    })
                };
                match posted {
                    Some(p) => {
                        let (lock, cvar) = &*self.state;
                        lock.lock().unwrap().posted.push((Instant::now(), p));
                        cvar.notify_all();
                        "HTTP/1.1 202 Accepted\r\ncontent-length: 16\r\n\r\n{\"status\":\"OK\"}\n"
                            .to_owned()
                    }
                    None => "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n".to_owned(),
                }
            };
            if stream.write_all(reply.as_bytes()).is_err() {
                return;
            }
        }
    }

    /// Blocks, as Lambda does, until an event is queued.
    fn next_event(&self) -> (String, serde_json::Value) {
        let (lock, cvar) = &*self.state;
        let mut state = lock.lock().unwrap();
        loop {
            if let Some(event) = state.events.pop_front() {
                state.served += 1;
                return (format!("req-{}", state.served), event);
            }
            state = cvar.wait(state).unwrap();
        }
    }
}

/// A function's debug binary, as `cargo build --workspace --bins` (and `make test`) leaves it.
pub fn binary(name: &str) -> PathBuf {
    let dir = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent()?.parent().map(PathBuf::from))
        .expect("the test binary sits in target/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the functions first (`cargo build --workspace --bins`; `make test` does)",
        path.display()
    );
    path
}

/// A function's process under the stand-in, with only the variables given (and PATH), its
/// stdout and stderr captured to a file.
pub struct Function {
    pub child: Child,
    pub started: Instant,
    log: PathBuf,
}

impl Function {
    pub fn spawn(name: &str, api: &RuntimeApi, vars: &[(&str, &str)]) -> Function {
        let log = std::env::temp_dir().join(format!(
            "fleetkeeper-{name}-{}-{}.log",
            std::process::id(),
            api.addr().replace([':', '.'], "-")
        ));
        let out = std::fs::File::create(&log).expect("a log file");
        let err = out.try_clone().expect("a log file");
        let mut cmd = Command::new(binary(name));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", api.addr())
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_REGION", "us-east-1")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let started = Instant::now();
        let child = cmd.spawn().expect("the function starts");
        Function {
            child,
            started,
            log,
        }
    }

    /// Waits up to `timeout` for the process to exit; None if it is still running.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// Everything it wrote to stdout and stderr so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}
