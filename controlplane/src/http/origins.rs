//! Two origins on one port. Apps are strangers' code: in a browser they must
//! never share an origin with the editor and the API, or an app's script,
//! cookie or service worker could act with the user's token. So the port
//! answers by Host: the apps host serves only the gateway (`/user/...`), any
//! other host serves only the platform and sends `/user/...` over to the
//! apps host.

use axum::{
    extract::{Request, State},
    http::{StatusCode, Uri, header},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};

/// Where the platform and the apps are reached, without trailing slashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origins {
    /// The editor, the API and gRPC: `http://127.0.0.1:8080`.
    pub platform: String,
    /// Every app, under `/user/{user}/app/{app}/`: `http://localhost:8080`.
    pub apps: String,
    /// The apps URL's host, lowercase. Hosts alone decide: the two hosts
    /// differ (checked in `new`), and proxies in front may drop the port.
    apps_host: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct HostPort {
    host: String,
    port: u16,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OriginError {
    #[error("{0:?} is not an http:// or https:// URL with a host")]
    BadUrl(String),
    #[error(
        "the apps URL {0} has the same host as the platform: apps would share the platform's \
         origin (its cookies, storage and service workers); give apps a host of their own with \
         --apps-url (for example http://localhost:PORT beside http://127.0.0.1:PORT)"
    )]
    SameOrigin(String),
    #[error(
        "apps need a host name of their own beside the platform's {0}: set --apps-url (for \
         example https://apps.example.com, a DNS name that reaches this port)"
    )]
    NoAppsUrl(String),
}

impl Origins {
    /// The platform at `platform`; apps at `apps`, or, when not given and the
    /// platform is on a loopback name, on the other loopback name (127.0.0.1
    /// and localhost are two origins and need no DNS setup).
    pub fn new(platform: &str, apps: Option<&str>) -> Result<Self, OriginError> {
        let platform = platform.trim_end_matches('/').to_string();
        let platform_host = host_port(&platform)?;
        let apps = match apps {
            Some(a) => a.trim_end_matches('/').to_string(),
            None => loopback_twin(&platform, &platform_host)
                .ok_or_else(|| OriginError::NoAppsUrl(platform.clone()))?,
        };
        let apps_host = host_port(&apps)?;
        if apps_host.host == platform_host.host {
            // Cookies ignore ports: one host is one site for them.
            return Err(OriginError::SameOrigin(apps));
        }
        Ok(Self {
            platform,
            apps,
            apps_host: apps_host.host,
        })
    }

    /// The apps URL's host name: what the apps' routes match in a cluster.
    pub fn apps_host(&self) -> &str {
        &self.apps_host
    }

    /// True when the request names the apps host.
    fn is_apps_host(&self, req: &Request) -> bool {
        request_host(req).is_some_and(|h| h.host == self.apps_host)
    }
}

/// Routes by origin: the gateway only on the apps host, everything else only
/// on the platform's.
pub async fn route_by_origin(
    State(origins): State<std::sync::Arc<Origins>>,
    req: Request,
    next: Next,
) -> Response {
    let to_app = req.uri().path().starts_with("/user/");
    match (origins.is_apps_host(&req), to_app) {
        (true, true) | (false, false) => next.run(req).await,
        // An old link to an app on the platform's host: same path, apps host.
        (false, true) => {
            Redirect::permanent(&format!("{}{}", origins.apps, path_and_query(req.uri())))
                .into_response()
        }
        (true, false) if req.uri().path() == "/" => {
            Redirect::temporary(&format!("{}/", origins.platform)).into_response()
        }
        (true, false) => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "Not found: this host serves apps only, at /user/{user_id}/app/{app_id}/.\n",
        )
            .into_response(),
    }
}

fn path_and_query(uri: &Uri) -> &str {
    uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
}

/// The host a request is for: the URI's authority (HTTP/2, absolute form),
/// else the Host header.
fn request_host(req: &Request) -> Option<HostPort> {
    let authority = match req.uri().authority() {
        Some(a) => a.as_str().to_string(),
        None => req.headers().get(header::HOST)?.to_str().ok()?.to_string(),
    };
    let scheme = req.uri().scheme_str().unwrap_or("http");
    parse_authority(&authority, default_port(scheme))
}

fn host_port(url: &str) -> Result<HostPort, OriginError> {
    let bad = || OriginError::BadUrl(url.to_string());
    let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
    if scheme != "http" && scheme != "https" {
        return Err(bad());
    }
    let authority = rest.split('/').next().unwrap_or_default();
    parse_authority(authority, default_port(scheme)).ok_or_else(bad)
}

fn default_port(scheme: &str) -> u16 {
    if scheme == "https" { 443 } else { 80 }
}

fn parse_authority(authority: &str, default_port: u16) -> Option<HostPort> {
    let authority = authority.rsplit('@').next()?;
    let (host, port) = match authority.rsplit_once(':') {
        // `[::1]:8080`, `host:8080`; a bare `[::1]` has its colons inside brackets.
        Some((h, p)) if !p.contains(']') => (h, p.parse().ok()?),
        _ => (authority, default_port),
    };
    if host.is_empty() {
        return None;
    }
    Some(HostPort {
        host: host.to_ascii_lowercase(),
        port,
    })
}

/// `http://127.0.0.1:P` ↔ `http://localhost:P`.
fn loopback_twin(platform: &str, hp: &HostPort) -> Option<String> {
    let twin = match hp.host.as_str() {
        "127.0.0.1" | "0.0.0.0" | "[::1]" | "[::]" => "localhost",
        "localhost" => "127.0.0.1",
        _ => return None,
    };
    let scheme = platform.split_once("://")?.0;
    Some(format!("{scheme}://{twin}:{}", hp.port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    fn req(host: &str, path: &str) -> Request {
        Request::builder()
            .uri(path)
            .header(header::HOST, host)
            .body(Body::empty())
            .unwrap()
    }

    #[test]
    fn loopback_platforms_get_the_other_loopback_name_for_apps() {
        let o = Origins::new("http://127.0.0.1:8080", None).unwrap();
        assert_eq!(o.apps, "http://localhost:8080");
        let o = Origins::new("http://localhost:9000/", None).unwrap();
        assert_eq!(o.apps, "http://127.0.0.1:9000");
        assert_eq!(o.platform, "http://localhost:9000");
    }

    #[test]
    fn a_public_host_needs_an_apps_url_of_its_own() {
        assert!(matches!(
            Origins::new("https://gofast.example.com", None),
            Err(OriginError::NoAppsUrl(_))
        ));
        let o = Origins::new(
            "https://gofast.example.com",
            Some("https://apps.gofast.example.com"),
        )
        .unwrap();
        assert_eq!(o.apps, "https://apps.gofast.example.com");
    }

    #[test]
    fn apps_never_share_the_platforms_host_even_on_another_port() {
        for apps in ["http://127.0.0.1:8080", "http://127.0.0.1:9090"] {
            assert!(matches!(
                Origins::new("http://127.0.0.1:8080", Some(apps)),
                Err(OriginError::SameOrigin(_))
            ));
        }
        assert!(matches!(
            Origins::new("ftp://x", None),
            Err(OriginError::BadUrl(_))
        ));
    }

    #[test]
    fn requests_are_matched_on_host_and_port() {
        let o = Origins::new("http://127.0.0.1:8080", None).unwrap();
        assert!(o.is_apps_host(&req("localhost:8080", "/user/u/app/a/")));
        assert!(o.is_apps_host(&req("LOCALHOST:8080", "/")));
        assert!(!o.is_apps_host(&req("127.0.0.1:8080", "/")));
        let https = Origins::new("https://p.example", Some("https://a.example")).unwrap();
        assert!(https.is_apps_host(&req("a.example", "/")));
        assert!(https.is_apps_host(&req("a.example:443", "/")));
        let h2 = Request::builder()
            .uri("http://localhost:8080/user/u/app/a/")
            .body(Body::empty())
            .unwrap();
        assert!(o.is_apps_host(&h2));
    }
}
