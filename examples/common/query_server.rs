//! A small HTTP/1.1 server answering interactive queries of one key-value store with `String`
//! keys and `i64` values (what `word_count` keeps), as an application would run next to its
//! `KafkaStreams` instance. Any instance answers for any key: it asks the group's metadata
//! which instance holds the key and forwards the request there when that is another one.
//!
//! ```text
//! GET /keys/<key>         the key's value, from whichever instance holds it (404: none)
//! GET /local/keys/<key>   the key's value in this instance's stores only
//! GET /local/all          every entry of this instance's stores, one "<key> <value>" a line
//! GET /instances          every instance: "<host:port> active=<tasks> standby=<tasks>"
//! GET /metrics            this instance's metrics in the Prometheus text format
//! ```
//!
//! Keys are percent-decoded. Answers are text; a response says which instance served it in
//! an `X-Served-By` header.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use kstreams::{InteractiveQueries, MetricsReader, Serdes, StoreQueryParameters};

use super::Started;

/// An HTTP answer: status code and text body.
#[derive(Debug, PartialEq, Eq)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Body.
    pub body: String,
}

impl Answer {
    fn new(status: u16, body: impl Into<String>) -> Self {
        Answer {
            status,
            body: body.into(),
        }
    }
}

/// Serves `store` on `listen` (`host:port`, normally the instance's `application.server`)
/// from a background thread, a connection at a time.
pub fn serve(
    listen: &str,
    instance: Started,
    store: &'static str,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let listener = TcpListener::bind(listen)?;
    let me = listen.to_string();
    let Started { queries, metrics } = instance;
    std::thread::Builder::new()
        .name("query-server".into())
        .spawn(move || {
            for conn in listener.incoming().flatten() {
                let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                if let Err(e) = handle(conn, &me, &queries, &metrics, store) {
                    eprintln!("query server: {e}");
                }
            }
        })
}

fn handle(
    mut conn: TcpStream,
    me: &str,
    queries: &InteractiveQueries,
    metrics: &MetricsReader,
    store: &str,
) -> std::io::Result<()> {
    let answer = match read_request_path(&conn) {
        Ok(path) if path == "/metrics" => Answer::new(200, metrics.to_prometheus()),
        Ok(path) => route(&path, me, queries, store),
        Err(e) => Answer::new(400, format!("bad request: {e}\n")),
    };
    write!(
        conn,
        "HTTP/1.1 {} {}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nX-Served-By: {me}\r\nConnection: close\r\n\r\n{}",
        answer.status,
        reason(answer.status),
        answer.body.len(),
        answer.body
    )
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        502 => "Bad Gateway",
        _ => "Service Unavailable",
    }
}

/// The path of a `GET` request (the head read up to its blank line, at most 8 KiB).
fn read_request_path(conn: &TcpStream) -> Result<String, String> {
    let mut reader = BufReader::new(conn.take(8192));
    let mut first = String::new();
    reader.read_line(&mut first).map_err(|e| e.to_string())?;
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line).map_err(|e| e.to_string())?;
        if n == 0 || line == "\r\n" || line == "\n" {
            break;
        }
    }
    let mut parts = first.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some("GET"), Some(path)) => Ok(path.to_string()),
        _ => Err(format!("only GET is served, got '{}'", first.trim_end())),
    }
}

/// Decodes `%XX` escapes (and `+` as a space); `None` for a malformed escape or bytes that
/// are not UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Answers one request path.
pub fn route(path: &str, me: &str, queries: &InteractiveQueries, store: &str) -> Answer {
    if let Some(key) = path.strip_prefix("/local/keys/") {
        return match percent_decode(key) {
            Some(key) => local_get(queries, store, &key),
            None => Answer::new(400, "malformed key\n"),
        };
    }
    if let Some(key) = path.strip_prefix("/keys/") {
        return match percent_decode(key) {
            Some(key) => routed_get(queries, store, me, &key, path),
            None => Answer::new(400, "malformed key\n"),
        };
    }
    match path {
        "/local/all" => local_all(queries, store),
        "/instances" => instances(queries),
        _ => Answer::new(404, "unknown path\n"),
    }
}

fn local_get(queries: &InteractiveQueries, store: &str, key: &String) -> Answer {
    let view = queries.key_value_store::<String, i64>(StoreQueryParameters::from_name(store));
    match view.and_then(|v| v.get(key)) {
        Ok(Some(n)) => Answer::new(200, format!("{n}\n")),
        Ok(None) => Answer::new(404, format!("no value for '{key}'\n")),
        Err(e) => Answer::new(503, format!("{e}\n")),
    }
}

fn local_all(queries: &InteractiveQueries, store: &str) -> Answer {
    let view = queries.key_value_store::<String, i64>(StoreQueryParameters::from_name(store));
    match view.and_then(|v| v.all()) {
        Ok(entries) => Answer::new(
            200,
            entries
                .iter()
                .map(|(k, v)| format!("{k} {v}\n"))
                .collect::<String>(),
        ),
        Err(e) => Answer::new(503, format!("{e}\n")),
    }
}

fn routed_get(
    queries: &InteractiveQueries,
    store: &str,
    me: &str,
    key: &String,
    path: &str,
) -> Answer {
    let owner = match queries.query_metadata_for_key(store, key, Serdes::string().as_ref()) {
        Ok(Some(m)) => m.active_host.to_string(),
        Ok(None) => return Answer::new(503, "the key's owner is not known yet\n"),
        Err(e) => return Answer::new(503, format!("{e}\n")),
    };
    if owner == me {
        local_get(queries, store, key)
    } else {
        forward(&owner, &format!("/local{path}"))
    }
}

/// Asks instance `host` for `path`.
pub fn forward(host: &str, path: &str) -> Answer {
    match http_get(host, path) {
        Ok(answer) => answer,
        Err(e) => Answer::new(502, format!("asking {host} failed: {e}\n")),
    }
}

/// A `GET` of `path` on `host` (`host:port`), with a 5 s timeout.
pub fn http_get(host: &str, path: &str) -> std::io::Result<Answer> {
    let mut conn = TcpStream::connect(host)?;
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    conn.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status in '{head}'")))?;
    Ok(Answer::new(status, body))
}

fn instances(queries: &InteractiveQueries) -> Answer {
    let list = |tasks: &std::collections::BTreeSet<kstreams::processor::TaskId>| {
        tasks
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    let body = queries
        .metadata_for_all_streams_clients()
        .iter()
        .map(|m| {
            format!(
                "{} active={} standby={}\n",
                m.host_info,
                list(&m.active_tasks),
                list(&m.standby_tasks)
            )
        })
        .collect::<String>();
    Answer::new(200, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_percent_decoded() {
        assert_eq!(percent_decode("caf%C3%A9").as_deref(), Some("café"));
        assert_eq!(percent_decode("a+b").as_deref(), Some("a b"));
        assert_eq!(percent_decode("plain").as_deref(), Some("plain"));
        assert_eq!(percent_decode("bad%4"), None);
        assert_eq!(percent_decode("bad%zz"), None);
        assert_eq!(percent_decode("%ff"), None, "not UTF-8");
    }
}
