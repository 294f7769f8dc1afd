//! Which push services the server talks to. A subscription's endpoint must
//! be on an allowlisted origin (`push.allowed_origins`), checked when the app
//! registers it and again before every request, so a subscription cannot
//! make the server call an arbitrary address (no SSRF through endpoints).

use url::Url;

/// One allowlist entry: `https://host[:port]`, `https://*.domain` (any
/// subdomain), or `http://` on a loopback address (a test stand-in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    scheme: String,
    /// Lower case; for a wildcard, the suffix after `*.`.
    host: String,
    wildcard: bool,
    port: u16,
}

impl Pattern {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let (wildcard, text) = match raw.split_once("://*.") {
            Some((scheme, rest)) => (true, format!("{scheme}://{rest}")),
            None => (false, raw.to_owned()),
        };
        let url = Url::parse(&text).map_err(|_| "not an origin (scheme://host[:port])")?;
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err("an origin has no path, query or fragment");
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("an origin has no user or password");
        }
        let host = url
            .host_str()
            .ok_or("an origin needs a host")?
            .to_ascii_lowercase();
        match url.scheme() {
            "https" => {}
            "http" if !wildcard && is_loopback(&host) => {}
            "http" => return Err("http:// is allowed only on a loopback address (tests)"),
            _ => return Err("the scheme must be https"),
        }
        if wildcard && (host.parse::<std::net::IpAddr>().is_ok() || !host.contains('.')) {
            return Err("a wildcard needs a domain with at least two labels");
        }
        Ok(Pattern {
            scheme: url.scheme().to_owned(),
            host,
            wildcard,
            port: url.port_or_known_default().ok_or("no port")?,
        })
    }

    fn matches(&self, url: &Url) -> bool {
        let Some(host) = url.host_str().map(str::to_ascii_lowercase) else {
            return false;
        };
        let host_ok = if self.wildcard {
            host.strip_suffix(&self.host)
                .is_some_and(|prefix| prefix.len() > 1 && prefix.ends_with('.'))
        } else {
            host == self.host
        };
        url.scheme() == self.scheme && host_ok && url.port_or_known_default() == Some(self.port)
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[derive(Debug, Clone)]
pub struct Allowlist(Vec<Pattern>);

impl Allowlist {
    /// From validated configuration (entries that do not parse are skipped;
    /// `config.rs` refuses them at start).
    pub fn new(origins: &[String]) -> Self {
        Allowlist(
            origins
                .iter()
                .filter_map(|o| Pattern::parse(o).ok())
                .collect(),
        )
    }

    /// The endpoint, parsed, if it is an https (or loopback test) URL on an
    /// allowed origin, without credentials.
    pub fn check(&self, endpoint: &str) -> Option<Url> {
        if endpoint.len() > 2048 {
            return None;
        }
        let url = Url::parse(endpoint).ok()?;
        if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
            return None;
        }
        self.0.iter().any(|p| p.matches(&url)).then_some(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> Allowlist {
        Allowlist::new(&entries.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn only_allowlisted_origins_pass() {
        let allow = list(&[
            "https://fcm.googleapis.com",
            "https://*.notify.windows.com",
            "http://127.0.0.1:4567",
        ]);
        assert!(
            allow
                .check("https://fcm.googleapis.com/fcm/send/abc")
                .is_some()
        );
        assert!(allow.check("https://FCM.googleapis.com:443/x").is_some());
        assert!(
            allow
                .check("https://db5p.notify.windows.com/w/?token=x")
                .is_some()
        );
        assert!(allow.check("http://127.0.0.1:4567/push/1").is_some());
        for refused in [
            "http://fcm.googleapis.com/x",
            "https://fcm.googleapis.com:8443/x",
            "https://fcm.googleapis.com.evil.example/x",
            "https://evilfcm.googleapis.com/x",
            "https://notify.windows.com/x",
            "https://evil-notify.windows.com/x",
            "https://user:pw@fcm.googleapis.com/x",
            "http://127.0.0.1:4568/push/1",
            "http://169.254.169.254/latest/meta-data",
            "file:///etc/passwd",
            "not a url",
        ] {
            assert!(allow.check(refused).is_none(), "{refused}");
        }
    }

    #[test]
    fn configuration_entries_are_origins() {
        assert!(Pattern::parse("https://updates.push.services.mozilla.com").is_ok());
        assert!(Pattern::parse("http://[::1]:9000").is_ok());
        assert!(Pattern::parse("http://push.example").is_err());
        assert!(Pattern::parse("https://push.example/path").is_err());
        assert!(Pattern::parse("https://*.com").is_err());
        assert!(Pattern::parse("ftp://push.example").is_err());
    }
}
