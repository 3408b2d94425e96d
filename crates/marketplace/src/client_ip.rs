//! Who is on the other end: the peer's address, or, when the peer is a trusted proxy, the nearest
//! address in `X-Forwarded-For` that is not one. Anyone else's `X-Forwarded-For` is ignored, so a
//! client cannot put a forged address on a consent record or dodge a rate limit.

use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use ipnet::IpNet;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// The networks whose forwarding headers are believed: the load balancers and CDN in front of
/// the service (on one host, `marketctl proxy` on loopback).
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Arc<Vec<IpNet>>);

impl TrustedProxies {
    /// Parses a comma-separated list of addresses and CIDR networks (`127.0.0.1/8, ::1, 10.2.0.0/16`).
    pub fn parse(list: &str) -> Result<Self, String> {
        let nets = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{s:?} is not an IP address or CIDR network"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self(Arc::new(nets)))
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|n| n.contains(&ip))
    }

    /// The client's address for a connection from `peer` carrying `headers`. Walks
    /// `X-Forwarded-For` from the right (each proxy appends the address it saw), skipping trusted
    /// hops; the first untrusted address is the client. Anything unparsable ends the walk.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.trusts(client) {
            return client;
        }
        let hops: Vec<&str> = headers
            .get_all(header::HeaderName::from_static("x-forwarded-for"))
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        for hop in hops.iter().rev() {
            let Ok(ip) = hop.parse::<IpAddr>() else { break };
            client = ip.to_canonical();
            if !self.trusts(client) {
                break;
            }
        }
        client
    }
}

/// The client's address, when the connection's is known (it is not in router-only tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub Option<IpAddr>);

impl ClientIp {
    /// As stored on consent records.
    pub fn describe(self) -> String {
        self.0
            .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(parts
            .extensions
            .get::<ClientIp>()
            .copied()
            .unwrap_or(ClientIp(None)))
    }
}

/// Where a request came from, as the audit log records it (the client's address and the request
/// id the access log and the response carry, so an entry can be matched to both), and whether
/// the browser asks not to have its person's data sold or shared.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub ip: Option<IpAddr>,
    pub request_id: Option<String>,
    /// The browser sent `Sec-GPC: 1` (Global Privacy Control): its person opts out of sale and
    /// sharing of their data.
    pub gpc: bool,
}

impl<S: Send + Sync> FromRequestParts<S> for Origin {
    type Rejection = Infallible;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Infallible> {
        let ClientIp(ip) = ClientIp::from_request_parts(parts, state).await?;
        let request_id = parts
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(64).collect());
        let gpc = parts
            .headers
            .get("sec-gpc")
            .is_some_and(|v| v.as_bytes().trim_ascii() == b"1");
        Ok(Origin {
            ip,
            request_id,
            gpc,
        })
    }
}

/// Works out the client's address once, before routing, for every handler and rate limit. A
/// plain service rather than `from_fn` middleware: it runs on every request, so it allocates
/// nothing and adds no boxed future.
#[derive(Clone)]
pub struct ClientIpLayer(pub TrustedProxies);

impl<S> tower::Layer<S> for ClientIpLayer {
    type Service = ResolveClientIp<S>;
    fn layer(&self, inner: S) -> Self::Service {
        ResolveClientIp {
            inner,
            trusted: self.0.clone(),
        }
    }
}

#[derive(Clone)]
pub struct ResolveClientIp<S> {
    inner: S,
    trusted: TrustedProxies,
}

impl<S: tower::Service<Request>> tower::Service<Request> for ResolveClientIp<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let ip = peer.map(|p| self.trusted.client_ip(p, request.headers()));
        request.extensions_mut().insert(ClientIp(ip));
        self.inner.call(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use proptest::prelude::*;

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarding_headers_count_only_from_trusted_proxies() {
        let t = TrustedProxies::parse("127.0.0.0/8, ::1, 10.2.0.0/16").unwrap();
        // A client connecting directly cannot claim to be someone else.
        assert_eq!(
            t.client_ip(ip("203.0.113.9"), &xff(&["1.2.3.4"])),
            ip("203.0.113.9")
        );
        // Behind the proxy, the address the proxy saw, not what the client wrote before it.
        assert_eq!(
            t.client_ip(ip("127.0.0.1"), &xff(&["1.2.3.4, 198.51.100.7"])),
            ip("198.51.100.7")
        );
        // Two trusted hops (CDN edge inside the list, then the load balancer).
        assert_eq!(
            t.client_ip(ip("10.2.1.5"), &xff(&["1.2.3.4", "198.51.100.7, 10.2.3.4"])),
            ip("198.51.100.7")
        );
        // A proxy that forwarded nothing: the proxy itself.
        assert_eq!(t.client_ip(ip("::1"), &HeaderMap::new()), ip("::1"));
        // Garbage ends the walk at the last good hop.
        assert_eq!(
            t.client_ip(ip("127.0.0.1"), &xff(&["198.51.100.7, not-an-ip"])),
            ip("127.0.0.1")
        );
        // IPv4-mapped IPv6 peers are the IPv4 addresses they are.
        assert_eq!(
            t.client_ip(ip("::ffff:127.0.0.1"), &xff(&["198.51.100.7"])),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn bad_lists_are_refused_with_the_offending_entry() {
        assert!(TrustedProxies::parse("").unwrap().0.is_empty());
        let e = TrustedProxies::parse("127.0.0.1, everyone").unwrap_err();
        assert!(e.contains("everyone"), "{e}");
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
    }

    proptest! {
        #[test]
        fn an_untrusted_peer_is_always_the_client(a in any::<u32>(), header in "[0-9a-f.:, ]{0,40}") {
            let t = TrustedProxies::parse("10.0.0.0/8").unwrap();
            let peer = IpAddr::from(std::net::Ipv4Addr::from(a));
            let headers = HeaderValue::from_str(&header).map(|v| {
                let mut h = HeaderMap::new();
                h.insert("x-forwarded-for", v);
                h
            }).unwrap_or_default();
            let got = t.client_ip(peer, &headers);
            if !t.trusts(peer) {
                prop_assert_eq!(got, peer);
            }
        }
    }
}
