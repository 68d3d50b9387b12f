//! DNS-rebinding protection. A web page can make a browser send requests to
//! 127.0.0.1 under a name the attacker controls; such a request names that
//! foreign host in `Host` and the page's site in `Origin`. So `Host` must be
//! a loopback name or the address the connection arrived on, with its port,
//! and an `Origin`, when there is one, must be a loopback site.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use hyper::header::HeaderValue;
use hyper::http::uri::{Authority, Uri};

/// Is `host` (as in a URL authority: `localhost`, `127.0.0.1`, `[::1]`) a
/// name of this machine's loopback interface?
fn is_loopback_name(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    parse_ip(host).is_some_and(|ip| ip.is_loopback())
}

/// An IP address written as a URL host (IPv6 in brackets).
fn parse_ip(host: &str) -> Option<IpAddr> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    IpAddr::from_str(bare).ok()
}

/// Checks `Host` against the address the connection arrived on (`local`).
pub(crate) fn check_host(host: Option<&HeaderValue>, local: SocketAddr) -> Result<(), String> {
    let Some(host) = host else {
        return Err("the request has no Host header".to_string());
    };
    let text = host.to_str().unwrap_or("");
    let authority = Authority::from_str(text)
        .ok()
        .filter(|a| !a.as_str().contains('@'))
        .ok_or_else(|| format!("Host {text:?} is not a host and port"))?;
    let name = authority.host();
    let named_here = is_loopback_name(name) || parse_ip(name) == Some(local.ip());
    if !named_here {
        return Err(format!(
            "Host {text:?} does not name this server; use http://127.0.0.1:{port}/mcp or http://localhost:{port}/mcp",
            port = local.port()
        ));
    }
    let port = authority.port_u16().unwrap_or(80);
    if port != local.port() {
        return Err(format!(
            "Host {text:?} names port {port}, but this server listens on {}",
            local.port()
        ));
    }
    Ok(())
}

/// Checks `Origin`: absent (not a browser) or a loopback site.
pub(crate) fn check_origin(origin: Option<&HeaderValue>) -> Result<(), String> {
    let Some(origin) = origin else {
        return Ok(());
    };
    let text = origin.to_str().unwrap_or("");
    let loopback = Uri::from_str(text).ok().is_some_and(|uri| {
        matches!(uri.scheme_str(), Some("http" | "https"))
            && uri
                .authority()
                .is_some_and(|a| !a.as_str().contains('@') && is_loopback_name(a.host()))
    });
    if loopback {
        Ok(())
    } else {
        Err(format!(
            "Origin {text:?} is not a loopback site; browsers may reach enki mcp only from pages served by this machine's loopback"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(value: &str, local: &str) -> Result<(), String> {
        check_host(
            Some(&HeaderValue::from_str(value).unwrap()),
            local.parse().unwrap(),
        )
    }

    fn origin(value: &str) -> Result<(), String> {
        check_origin(Some(&HeaderValue::from_str(value).unwrap()))
    }

    #[test]
    fn loopback_names_with_the_right_port_are_this_server() {
        for ok in [
            "127.0.0.1:4000",
            "localhost:4000",
            "LOCALHOST:4000",
            "[::1]:4000",
        ] {
            assert!(host(ok, "127.0.0.1:4000").is_ok(), "{ok}");
        }
        assert!(
            host("192.168.1.5:4000", "192.168.1.5:4000").is_ok(),
            "the address it arrived on"
        );
        assert!(
            host("localhost", "127.0.0.1:80").is_ok(),
            "port 80 may be left out"
        );
    }

    #[test]
    fn foreign_names_ports_and_shapes_are_refused() {
        for bad in [
            "evil.example:4000",
            "localhost.evil.example:4000",
            "127.0.0.1:4001",
            "localhost",
            "user@127.0.0.1:4000",
            "10.0.0.1:4000",
            "",
        ] {
            assert!(host(bad, "127.0.0.1:4000").is_err(), "{bad}");
        }
        assert!(check_host(None, "127.0.0.1:4000".parse().unwrap()).is_err());
    }

    #[test]
    fn only_loopback_origins_pass_and_no_origin_passes() {
        assert!(check_origin(None).is_ok());
        for ok in [
            "http://localhost:6274",
            "http://127.0.0.1",
            "https://[::1]:8443",
        ] {
            assert!(origin(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://evil.example",
            "null",
            "file://",
            "http://localhost.evil.example",
            "ftp://127.0.0.1",
            "http://user@localhost",
        ] {
            assert!(origin(bad).is_err(), "{bad}");
        }
    }
}
