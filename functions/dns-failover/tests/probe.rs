//! Probes against a real HTTP server this test starts on a loopback port: healthy, 500,
//! slower than the timeout, the wrong body, connection refused; and TCP open and closed.

use std::time::Duration;

use dns_failover::config::{Check, HealthCheck};
use dns_failover::ports::{Probe, Prober};
use fleetkeeper_tests::http::{Reply, serve};
use fleetkeeper_tests::moto::free_port;

/// Answers by path: /ok 200 "status: ok", /fail 500, /slow 200 after 3 s, /wrong 200
/// "maintenance", /big 200 with "status: ok" after 100 KiB of padding.
async fn server() -> u16 {
    serve(|path| match path {
        "/ok" => Reply::new(200, "status: ok"),
        "/fail" => Reply::new(500, "error"),
        "/slow" => Reply::new(200, "status: ok").after(Duration::from_secs(3)),
        "/wrong" => Reply::new(200, "maintenance"),
        "/big" => Reply::new(200, format!("{}status: ok", "x".repeat(100 * 1024))),
        _ => Reply::new(404, ""),
    })
    .await
}

fn http(port: u16, path: &str, body: Option<&str>) -> HealthCheck {
    HealthCheck {
        check: Check::Http {
            url: format!("http://127.0.0.1:{port}{path}"),
            status: (200, 299),
            body_contains: body.map(str::to_owned),
        },
        timeout: Duration::from_millis(800),
    }
}

#[tokio::test]
async fn http_probes() {
    let port = server().await;
    let prober = Prober::new().unwrap();

    let ok = prober.probe(&http(port, "/ok", Some("ok"))).await;
    assert!(ok.healthy, "{ok:?}");
    assert_eq!(ok.detail, "HTTP 200");

    let fail = prober.probe(&http(port, "/fail", None)).await;
    assert!(!fail.healthy);
    assert_eq!(fail.detail, "HTTP 500 (expected 200-299)");

    let slow = prober.probe(&http(port, "/slow", None)).await;
    assert!(!slow.healthy);
    assert_eq!(slow.detail, "timed out after 800 ms");
    assert!(slow.ms >= 790 && slow.ms < 2000, "{}", slow.ms);

    let wrong = prober
        .probe(&http(port, "/wrong", Some("status: ok")))
        .await;
    assert!(!wrong.healthy);
    assert!(
        wrong.detail.contains("body lacks \"status: ok\""),
        "{}",
        wrong.detail
    );

    // Past the read limit the text is not looked for: unhealthy, and said so.
    let big = prober.probe(&http(port, "/big", Some("status: ok"))).await;
    assert!(!big.healthy, "{big:?}");

    let refused = prober.probe(&http(free_port(), "/ok", None)).await;
    assert!(!refused.healthy);
    assert!(
        refused.detail.to_lowercase().contains("refused"),
        "{}",
        refused.detail
    );
}

#[tokio::test]
async fn tcp_probes() {
    let port = server().await;
    let prober = Prober::new().unwrap();
    let tcp = |port| HealthCheck {
        check: Check::Tcp {
            host: "127.0.0.1".into(),
            port,
        },
        timeout: Duration::from_millis(500),
    };
    let open = prober.probe(&tcp(port)).await;
    assert!(open.healthy, "{open:?}");
    let closed = prober.probe(&tcp(free_port())).await;
    assert!(!closed.healthy);
    assert!(
        closed.detail.starts_with("TCP 127.0.0.1:"),
        "{}",
        closed.detail
    );
}
