//! What the gateway lets through between a browser and an app. Apps share
//! the apps origin with each other, so nothing an app answers may reach past
//! its own prefix (cookies, service-worker scope, site-wide wipes), and an
//! app must be able to trust the forwarding headers it gets: the gateway
//! writes them, whatever the client sent.

use std::net::IpAddr;

use axum::http::{HeaderMap, HeaderName, HeaderValue, header};

/// Headers that belong to one connection, not to the message (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Client-sent claims about the path a request took; only the gateway's own count.
const FORWARDING: [&str; 3] = ["forwarded", "x-real-ip", "x-client-ip"];

/// Response headers an app may not send: they act beyond its prefix, on the
/// whole apps origin. (In the cluster shape Traefik drops them: see
/// `runtime::kubernetes::builders::app_headers_middleware`.)
pub const ORIGIN_WIDE: [&str; 2] = ["service-worker-allowed", "clear-site-data"];

/// Where a request came from and which prefix the gateway stripped.
pub struct Forwarding<'a> {
    pub client: IpAddr,
    pub host: Option<HeaderValue>,
    pub prefix: &'a str,
}

/// Cleans a request for the app and states how it was forwarded.
pub fn to_app(headers: &mut HeaderMap, fwd: &Forwarding<'_>) {
    remove_connection_headers(headers);
    for name in FORWARDING {
        headers.remove(name);
    }
    let client_sent: Vec<HeaderName> = headers
        .keys()
        .filter(|n| n.as_str().starts_with("x-forwarded-"))
        .cloned()
        .collect();
    for name in client_sent {
        headers.remove(name);
    }
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), v);
        }
    };
    set("x-forwarded-for", &fwd.client.to_string());
    set("x-forwarded-proto", "http");
    set("x-forwarded-prefix", fwd.prefix);
    if let Some(host) = &fwd.host {
        headers.insert(HeaderName::from_static("x-forwarded-host"), host.clone());
    }
}

/// Cleans a request the activator passes on through Traefik (the cluster
/// shape): Traefik writes the forwarding headers and strips the prefix, and
/// the mark stops a request that would come back here (see
/// `runtime::ACTIVATOR_LOOP_HEADER`).
pub fn to_traefik(headers: &mut HeaderMap) {
    remove_connection_headers(headers);
    headers.insert(
        HeaderName::from_static(crate::runtime::ACTIVATOR_LOOP_HEADER),
        HeaderValue::from_static("1"),
    );
}

/// Cleans an app's response: connection headers, origin-wide headers, and
/// cookies pinned below the app's prefix.
pub fn from_app(headers: &mut HeaderMap, prefix: &str) {
    remove_connection_headers(headers);
    for name in ORIGIN_WIDE {
        headers.remove(name);
    }
    let cookies: Vec<HeaderValue> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| scope_cookie(v, prefix))
        .collect();
    headers.remove(header::SET_COOKIE);
    for c in cookies {
        headers.append(header::SET_COOKIE, c);
    }
}

/// Hop-by-hop headers, and any header the sender named in `Connection`.
fn remove_connection_headers(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// The cookie with its path moved below `prefix` (an app's `/` is the
/// prefix) and no `Domain` (host-only). A cookie that cannot be read is
/// dropped rather than passed on unscoped.
fn scope_cookie(value: &HeaderValue, prefix: &str) -> Option<HeaderValue> {
    let mut c = cookie::Cookie::parse(value.to_str().ok()?.to_string()).ok()?;
    let app_path = c.path().filter(|p| p.starts_with('/')).unwrap_or("/");
    let path = format!("{prefix}{app_path}");
    c.set_path(path.trim_end_matches('/').to_string());
    c.unset_domain();
    HeaderValue::from_str(&c.to_string()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PREFIX: &str = "/user/u1/app/a1";

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn client_claims_about_forwarding_are_replaced() {
        let mut h = map(&[
            ("x-forwarded-for", "10.0.0.1"),
            ("x-forwarded-host", "evil.example"),
            ("x-forwarded-port", "1"),
            ("forwarded", "for=10.0.0.1"),
            ("x-real-ip", "10.0.0.1"),
            ("connection", "x-secret, keep-alive"),
            ("x-secret", "1"),
            ("accept", "text/html"),
        ]);
        let fwd = Forwarding {
            client: "127.0.0.1".parse().unwrap(),
            host: Some(HeaderValue::from_static("localhost:8080")),
            prefix: PREFIX,
        };
        to_app(&mut h, &fwd);
        assert_eq!(h["x-forwarded-for"], "127.0.0.1");
        assert_eq!(h["x-forwarded-host"], "localhost:8080");
        assert_eq!(h["x-forwarded-prefix"], PREFIX);
        for gone in [
            "forwarded",
            "x-real-ip",
            "x-secret",
            "connection",
            "x-forwarded-port",
        ] {
            assert!(!h.contains_key(gone), "{gone} was passed on");
        }
        assert_eq!(h["accept"], "text/html");
        assert_eq!(h.get_all("x-forwarded-for").iter().count(), 1);
    }

    #[test]
    fn apps_cannot_widen_service_workers_or_wipe_the_origin() {
        let mut h = map(&[
            ("service-worker-allowed", "/"),
            ("clear-site-data", "\"storage\""),
            ("content-type", "text/javascript"),
        ]);
        from_app(&mut h, PREFIX);
        assert!(!h.contains_key("service-worker-allowed"));
        assert!(!h.contains_key("clear-site-data"));
        assert_eq!(h["content-type"], "text/javascript");
    }

    #[test]
    fn cookies_are_pinned_below_the_apps_prefix() {
        let mut h = map(&[
            ("set-cookie", "sid=1; Path=/; HttpOnly"),
            ("set-cookie", "cart=2; Path=/shop; Domain=localhost"),
            ("set-cookie", "plain=3"),
            ("set-cookie", "weird=4; Path=relative"),
        ]);
        from_app(&mut h, PREFIX);
        let got: Vec<cookie::Cookie> = h
            .get_all("set-cookie")
            .iter()
            .map(|v| cookie::Cookie::parse(v.to_str().unwrap().to_string()).unwrap())
            .collect();
        assert_eq!(got.len(), 4);
        let path = |n: &str| got.iter().find(|c| c.name() == n).unwrap().path();
        assert_eq!(path("sid"), Some(PREFIX));
        assert_eq!(path("cart"), Some("/user/u1/app/a1/shop"));
        assert_eq!(path("plain"), Some(PREFIX));
        assert_eq!(path("weird"), Some(PREFIX));
        assert!(got.iter().all(|c| c.domain().is_none()));
        assert!(
            got.iter()
                .find(|c| c.name() == "sid")
                .unwrap()
                .http_only()
                .unwrap_or(false)
        );
    }

    #[test]
    fn unreadable_cookies_are_dropped() {
        let mut h = HeaderMap::new();
        // Not text (obs-text bytes), and no `name=value` pair: neither can be scoped.
        h.append(
            header::SET_COOKIE,
            HeaderValue::from_bytes(b"sid=\xff\xfe; Path=/").unwrap(),
        );
        h.append(header::SET_COOKIE, HeaderValue::from_static("novalue"));
        h.append(header::SET_COOKIE, HeaderValue::from_static("ok=1; Path=/"));
        from_app(&mut h, PREFIX);
        let left: Vec<&str> = h
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(left, [format!("ok=1; Path={PREFIX}")]);
    }
}
