//! The address policy applied where connections are made: a DNS resolver for reqwest that
//! keeps only permitted addresses (so the address connected to is the one checked, however
//! DNS answers change), the check of IP-literal hosts that reqwest never resolves, the check
//! at registration, and the one HTTP client built with them.

use std::error::Error as StdError;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::address_policy::{host_kind, AddressPolicy, HostKind, Refusal};

/// What a delivery log says of an attempt the policy stopped: no address, no class, nothing
/// about the operator's network.
pub const REFUSED_BY_POLICY: &str = "refused by address policy";

/// How long a registration waits for DNS before accepting the URL (delivery checks again).
const REGISTRATION_LOOKUP: Duration = Duration::from_secs(2);

/// Why a guarded lookup gave no address.
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    /// Every address was refused by the policy.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// DNS failed.
    #[error("DNS lookup failed: {0}")]
    Lookup(#[source] std::io::Error),
}

/// A reqwest resolver that answers only the addresses the policy permits.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    policy: Arc<AddressPolicy>,
}

impl GuardedResolver {
    /// A resolver applying `policy`.
    pub fn new(policy: Arc<AddressPolicy>) -> Self {
        Self { policy }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = resolve_permitted(&policy, &host).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// The system resolver's addresses for `host`, those the policy refuses left out; an error
/// when none is left.
pub async fn resolve_permitted(
    policy: &AddressPolicy,
    host: &str,
) -> Result<Vec<SocketAddr>, GuardError> {
    let found = tokio::net::lookup_host((host, 0))
        .await
        .map_err(GuardError::Lookup)?;
    let permitted: Vec<SocketAddr> = found.filter(|a| policy.check(a.ip()).is_ok()).collect();
    if permitted.is_empty() {
        return Err(Refusal::NoPermittedAddress.into());
    }
    Ok(permitted)
}

/// The check before a request: reqwest connects to an IP-literal host without asking the
/// resolver, so those are checked here. Names are left to [`GuardedResolver`].
pub fn check_literal(policy: &AddressPolicy, url: &reqwest::Url) -> Result<(), Refusal> {
    match host_kind(url.host_str().unwrap_or_default()) {
        HostKind::Ip(ip) => policy.check(ip),
        HostKind::Localhost | HostKind::Name(_) => Ok(()),
    }
}

/// The check at registration: an IP literal or `localhost` by itself; a name by what DNS
/// answers now, refused when any answer is refused. A name that does not resolve (yet) is
/// accepted, since every delivery checks again.
pub async fn check_url(policy: &AddressPolicy, url: &reqwest::Url) -> Result<(), Refusal> {
    let host = host_kind(url.host_str().unwrap_or_default());
    if let Some(verdict) = policy.check_host(&host) {
        return verdict;
    }
    let HostKind::Name(name) = host else {
        return Ok(());
    };
    let port = url.port_or_known_default().unwrap_or(443);
    match tokio::time::timeout(REGISTRATION_LOOKUP, tokio::net::lookup_host((name, port))).await {
        Ok(Ok(addrs)) => {
            for a in addrs {
                policy.check(a.ip())?;
            }
            Ok(())
        }
        Ok(Err(_)) | Err(_) => Ok(()),
    }
}

/// Whether `error` (or anything in its source chain) is the policy's refusal.
pub fn is_refusal(error: &(dyn StdError + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if e.is::<Refusal>()
            || matches!(e.downcast_ref::<GuardError>(), Some(GuardError::Refused(_)))
        {
            return true;
        }
        next = e.source();
    }
    false
}

/// The client for requests to tenant URLs: the guarded resolver, no redirects (a 3xx is the
/// answer, never followed to wherever it points), no proxy (a proxy would resolve and connect
/// for us, past the policy), and `timeout` per request.
pub fn guarded_client(
    policy: Arc<AddressPolicy>,
    timeout: Duration,
) -> Result<reqwest::Client, reqwest::Error> {
    // reqwest is built with `rustls-no-provider`; a no-op when the binary already installed one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(GuardedResolver::new(policy))
        .build()
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;
    use crate::net::address_policy::parse_range;

    fn loopback_allowed() -> Arc<AddressPolicy> {
        Arc::new(AddressPolicy::new(vec![
            parse_range("127.0.0.0/8").expect("range"),
            parse_range("::1/128").expect("range"),
        ]))
    }

    async fn resolve(resolver: &GuardedResolver, host: &str) -> Result<Vec<SocketAddr>, String> {
        let name = Name::from_str(host).map_err(|e| e.to_string())?;
        match resolver.resolve(name).await {
            Ok(addrs) => Ok(addrs.collect()),
            Err(e) => {
                assert!(
                    is_refusal(e.as_ref()) || e.to_string().contains("DNS"),
                    "{e}"
                );
                Err(if is_refusal(e.as_ref()) {
                    "refused".into()
                } else {
                    e.to_string()
                })
            }
        }
    }

    // `localhost` comes from /etc/hosts: no DNS traffic leaves the machine.
    #[tokio::test]
    async fn the_resolver_drops_refused_answers_and_refuses_when_none_is_left() {
        let strict = GuardedResolver::new(Arc::new(AddressPolicy::default()));
        assert_eq!(resolve(&strict, "localhost").await, Err("refused".into()));

        let open = GuardedResolver::new(loopback_allowed());
        let addrs = resolve(&open, "localhost").await.expect("loopback allowed");
        assert!(!addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback()));

        // Only ::1 allowed: the 127.0.0.1 answer is dropped, so nothing (or only ::1) is left.
        let v6_only = GuardedResolver::new(Arc::new(AddressPolicy::new(vec![
            parse_range("::1").expect("range")
        ])));
        match resolve(&v6_only, "localhost").await {
            Ok(addrs) => assert!(addrs.iter().all(|a| a.ip().is_ipv6()), "{addrs:?}"),
            Err(e) => assert_eq!(e, "refused"),
        }
    }

    #[tokio::test]
    async fn a_refused_lookup_is_told_apart_from_a_failed_one_through_reqwest() {
        let client = guarded_client(Arc::new(AddressPolicy::default()), Duration::from_secs(2))
            .expect("client");
        // Refused in the resolver, before any connection.
        let err = client
            .get("http://localhost:9/")
            .send()
            .await
            .expect_err("refused");
        assert!(is_refusal(&err), "{err:?}");
    }

    #[test]
    fn literal_hosts_are_checked_before_the_request() {
        let strict = AddressPolicy::default();
        for url in [
            "http://127.0.0.1:1/x",
            "http://2130706433/",
            "http://0x7f000001/",
            "http://[::1]/",
            "http://[::ffff:169.254.169.254]/",
            "http://0.0.0.0/",
        ] {
            let url = reqwest::Url::parse(url).expect("url");
            assert!(check_literal(&strict, &url).is_err(), "{url}");
        }
        let public = reqwest::Url::parse("https://93.184.215.14/hook").expect("url");
        assert!(check_literal(&strict, &public).is_ok());
        let name = reqwest::Url::parse("https://localhost/hook").expect("url");
        assert!(
            check_literal(&strict, &name).is_ok(),
            "names go to the resolver"
        );
        assert!(check_literal(
            &loopback_allowed(),
            &reqwest::Url::parse("http://127.0.0.1/").expect("url")
        )
        .is_ok());
    }
}
