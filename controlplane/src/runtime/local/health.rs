//! The health check of a starting app: poll `GET /health` on its socket until
//! it answers 200, or until it answers in a way that waiting cannot change.
//!
//! The runner answers `/health` outside the app's middleware, so a redirect or
//! a 4xx there means something answers before it (an older runner, an app that
//! replaced the server): saying so at once, with what it answered, beats
//! waiting out the start deadline and reporting silence.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::{StatusCode, Uri, body::Incoming, header::LOCATION};
use hyper_util::client::legacy::Client;
use hyperlocal::UnixConnector;

/// How long one probe may take before it counts as no answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// The pause between probes while the app is not up yet. A forked app is up
/// in tens of milliseconds, so this is most of a warm start's resolution; a
/// probe of an app that is not up yet is one refused connect.
const PROBE_INTERVAL: Duration = Duration::from_millis(5);
/// How much of a refusal's body the reason quotes.
const QUOTED_BODY: usize = 200;

/// Polls `uri` until the app answers 2xx (`Ok`), or a 3xx or 4xx (`Err` with
/// the reason, for the deploy's failure). No answer, or a 5xx, is "not yet":
/// the caller bounds the wait.
pub(super) async fn wait_healthy(
    http: &Client<UnixConnector, Empty<Bytes>>,
    uri: &Uri,
) -> Result<(), String> {
    loop {
        if let Ok(Ok(resp)) = tokio::time::timeout(PROBE_TIMEOUT, http.get(uri.clone())).await {
            let status = resp.status();
            if status.is_success() {
                return Ok(());
            }
            if status.is_redirection() || status.is_client_error() {
                return Err(refusal(resp).await);
            }
        }
        // A fixed interval, not a backoff (backon): the time to READY is this
        // poll's resolution, and the caller's start timeout bounds the loop.
        tokio::time::sleep(PROBE_INTERVAL).await;
    }
}

/// "your app answered 307 Temporary Redirect to /health: ..." with where it
/// redirects, or the start of what it said.
async fn refusal(resp: hyper::Response<Incoming>) -> String {
    let status = resp.status();
    let location = resp
        .headers()
        .get(LOCATION)
        .map(|l| String::from_utf8_lossy(l.as_bytes()).into_owned());
    let said = match location {
        Some(location) => format!("a redirect to {location}"),
        None => quote(resp.into_body()).await,
    };
    format!(
        "your app answered {} to /health: {said} (the platform needs 200 there: middleware that answers before the app must let GET /health through)",
        describe(status)
    )
}

fn describe(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

/// The start of a body, on one line; never waits long or reads much.
async fn quote(body: Incoming) -> String {
    let read = tokio::time::timeout(PROBE_TIMEOUT, Limited::new(body, 4096).collect()).await;
    let bytes = match read {
        Ok(Ok(collected)) => collected.to_bytes(),
        _ => Bytes::new(),
    };
    let text = String::from_utf8_lossy(&bytes);
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.is_empty() {
        return "an empty body".into();
    }
    match line.char_indices().nth(QUOTED_BODY) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper_util::rt::TokioExecutor;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server on a Unix socket that answers each request with the next of
    /// `answers` (raw HTTP/1.1 responses), then closes the connection.
    fn serve(answers: Vec<&'static str>) -> (tempfile::TempDir, Uri) {
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = dir.path().join("app.sock");
        let listener = tokio::net::UnixListener::bind(&socket).expect("bind");
        tokio::spawn(async move {
            for answer in answers {
                let Ok((mut conn, _)) = listener.accept().await else {
                    return;
                };
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = conn.write_all(answer.as_bytes()).await;
                let _ = conn.shutdown().await;
            }
        });
        let uri = super::super::app_uri(&socket, "/health").expect("uri");
        (dir, uri)
    }

    fn client() -> Client<UnixConnector, Empty<Bytes>> {
        Client::builder(TokioExecutor::new()).build(UnixConnector)
    }

    async fn check(answers: Vec<&'static str>) -> Result<(), String> {
        let (_dir, uri) = serve(answers);
        tokio::time::timeout(Duration::from_secs(10), wait_healthy(&client(), &uri))
            .await
            .expect("the health check decided within 10s")
    }

    #[tokio::test]
    async fn a_redirect_fails_at_once_with_where_it_points() {
        let reason = check(vec![
            "HTTP/1.1 307 Temporary Redirect\r\nlocation: https://apps.example/user/u/app/a/health\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        ])
        .await
        .unwrap_err();
        assert!(
            reason.starts_with(
                "your app answered 307 Temporary Redirect to /health: a redirect to https://apps.example/user/u/app/a/health"
            ),
            "{reason}"
        );
    }

    #[tokio::test]
    async fn a_client_error_fails_at_once_with_what_the_app_said() {
        let reason = check(vec![
            "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\ncontent-length: 19\r\nconnection: close\r\n\r\nInvalid host header",
        ])
        .await
        .unwrap_err();
        assert!(
            reason.starts_with("your app answered 400 Bad Request to /health: Invalid host header"),
            "{reason}"
        );
    }

    #[tokio::test]
    async fn a_server_error_is_waited_out_until_the_app_is_healthy() {
        check(vec![
            "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            "HTTP/1.1 200 OK\r\ncontent-length: 15\r\nconnection: close\r\n\r\n{\"status\":\"ok\"}",
        ])
        .await
        .expect("healthy after the 503");
    }

    #[tokio::test]
    async fn a_long_body_is_quoted_short_on_one_line() {
        let reason = check(vec![Box::leak(
            format!(
                "HTTP/1.1 404 Not Found\r\ncontent-length: 1000\r\nconnection: close\r\n\r\n{}",
                "no\nsuch ".repeat(125)
            )
            .into_boxed_str(),
        )])
        .await
        .unwrap_err();
        assert!(
            reason.contains("404 Not Found to /health: no such no such"),
            "{reason}"
        );
        assert!(!reason.contains('\n') && reason.contains('…'), "{reason}");
        assert!(reason.len() < 450, "{reason}");
    }
}
