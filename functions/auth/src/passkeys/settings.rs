//! The relying party as configured: `WEBAUTHN_RP_ID`, `WEBAUTHN_ORIGINS`, `WEBAUTHN_RP_NAME` and
//! `WEBAUTHN_TIMEOUT_SECS`, read from an [`Env`] so tests build them from pairs. The table,
//! `PASSKEYS_TABLE`, is the core configuration's (`Table::Passkeys`).

use std::num::NonZeroU32;

use shared::{ConfigError, Env};
use webauthn_rp::request::{AsciiDomain, RpId};

/// The local default: the browser test and `make dev`'s page are served from `localhost`.
const DEFAULT_RP_ID: &str = "localhost";
/// The page origin `make dev` allows (the same default as `CORS_ALLOWED_ORIGINS`).
const DEFAULT_ORIGINS: &str = "http://localhost:3000";
/// What authenticators show when `WEBAUTHN_RP_NAME` is unset (set it to the product's name).
const DEFAULT_RP_NAME: &str = "Starter";

/// The relying party and the ceremony settings.
#[derive(Debug, Clone)]
pub struct PasskeySettings {
    /// `WEBAUTHN_RP_ID` (`localhost`): the domain passkeys are bound to; every origin's host is
    /// it or a subdomain of it.
    pub rp_id: RpId,
    /// `WEBAUTHN_ORIGINS` (`http://localhost:3000`), comma-separated: the exact origins
    /// (`scheme://host[:port]`) a browser may run a ceremony from.
    pub origins: Vec<String>,
    /// `WEBAUTHN_RP_NAME`: the name authenticators show.
    pub rp_name: String,
    /// `WEBAUTHN_TIMEOUT_SECS` (300, 1 to 600): how long a started ceremony can be finished; the
    /// options' `timeout`, the server state's expiry and the stored challenge's TTL.
    pub timeout: NonZeroU32,
}

impl PasskeySettings {
    /// Reads and checks the variables.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let rp_id_raw = env.string_or("WEBAUTHN_RP_ID", DEFAULT_RP_ID);
        let rp_id = parse_rp_id(&rp_id_raw)?;
        let origins = parse_origins(
            &env.string_or("WEBAUTHN_ORIGINS", DEFAULT_ORIGINS),
            &rp_id_raw,
        )?;
        let secs: u32 = env.num("WEBAUTHN_TIMEOUT_SECS", 300, 1, 600)?;
        let timeout = NonZeroU32::new(secs.saturating_mul(1_000))
            .ok_or_else(|| ConfigError::new("WEBAUTHN_TIMEOUT_SECS", "must be positive"))?;
        Ok(Self {
            rp_id,
            origins,
            rp_name: env.string_or("WEBAUTHN_RP_NAME", DEFAULT_RP_NAME),
            timeout,
        })
    }

    /// The ceremony lifetime in seconds.
    pub fn timeout_secs(&self) -> i64 {
        i64::from(self.timeout.get() / 1_000)
    }
}

fn parse_rp_id(raw: &str) -> Result<RpId, ConfigError> {
    let invalid = |why: &str| ConfigError::new("WEBAUTHN_RP_ID", why.to_owned());
    if raw.contains(['/', ':']) || raw.parse::<std::net::IpAddr>().is_ok() {
        return Err(invalid(
            "must be a domain name (no scheme, port or IP address)",
        ));
    }
    AsciiDomain::try_from(raw.to_owned())
        .map(RpId::Domain)
        .map_err(|_| invalid("must be an ASCII domain name"))
}

/// Each origin is `https://<host>[:port]` (or `http://` for `localhost`, which browsers treat as
/// secure), with a host that is the RP ID or under it: WebAuthn refuses any other pairing, so
/// a mistake here would only show up as every ceremony failing.
fn parse_origins(raw: &str, rp_id: &str) -> Result<Vec<String>, ConfigError> {
    let invalid = |why: String| ConfigError::new("WEBAUTHN_ORIGINS", why);
    let mut out = Vec::new();
    for origin in raw.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        let (scheme, rest) = origin
            .split_once("://")
            .ok_or_else(|| invalid(format!("{origin}: must be scheme://host[:port]")))?;
        let host = match rest.rsplit_once(':') {
            Some((host, port)) if port.parse::<u16>().is_ok() => host,
            Some(_) => return Err(invalid(format!("{origin}: bad port"))),
            None => rest,
        };
        if host.is_empty() || host.contains('/') {
            return Err(invalid(format!(
                "{origin}: must be scheme://host[:port], with no path"
            )));
        }
        let secure = scheme == "https" || (scheme == "http" && host == "localhost");
        if !secure {
            return Err(invalid(format!(
                "{origin}: must be https (http only for localhost)"
            )));
        }
        let under_rp = host == rp_id || host.ends_with(&format!(".{rp_id}"));
        if !under_rp {
            return Err(invalid(format!(
                "{origin}: host is not WEBAUTHN_RP_ID ({rp_id}) or a subdomain of it"
            )));
        }
        out.push(origin.to_owned());
    }
    if out.is_empty() {
        return Err(invalid("must name at least one origin".to_owned()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<PasskeySettings, ConfigError> {
        PasskeySettings::from_env(&Env::from_pairs(pairs))
    }

    #[test]
    fn the_defaults_are_the_local_page_on_localhost() {
        let s = settings(&[]).unwrap();
        assert!(matches!(&s.rp_id, RpId::Domain(d) if d.as_ref() == "localhost"));
        assert_eq!(s.origins, vec!["http://localhost:3000".to_owned()]);
        assert_eq!(s.timeout_secs(), 300);
    }

    #[test]
    fn origins_are_a_trimmed_comma_separated_list_under_the_rp_id() {
        let s = settings(&[
            ("WEBAUTHN_RP_ID", "example.com"),
            (
                "WEBAUTHN_ORIGINS",
                " https://example.com , https://app.example.com:8443,",
            ),
        ])
        .unwrap();
        assert_eq!(
            s.origins,
            vec![
                "https://example.com".to_owned(),
                "https://app.example.com:8443".to_owned()
            ]
        );
    }

    #[test]
    fn an_origin_outside_the_rp_id_or_over_plain_http_is_a_configuration_error() {
        for origins in [
            "https://evil.com",
            "https://notexample.com",
            "http://example.com",
            "https://example.com/path",
            "example.com",
            " , ",
        ] {
            let err = settings(&[
                ("WEBAUTHN_RP_ID", "example.com"),
                ("WEBAUTHN_ORIGINS", origins),
            ]);
            assert!(err.is_err(), "{origins:?} was accepted");
        }
    }

    #[test]
    fn an_rp_id_with_a_scheme_or_an_ip_address_is_refused() {
        for rp_id in [
            "https://example.com",
            "127.0.0.1",
            "example.com:443",
            "a..b",
        ] {
            assert!(
                settings(&[("WEBAUTHN_RP_ID", rp_id)]).is_err(),
                "{rp_id} was accepted"
            );
        }
    }

    #[test]
    fn the_timeout_is_bounded() {
        assert!(settings(&[("WEBAUTHN_TIMEOUT_SECS", "0")]).is_err());
        assert!(settings(&[("WEBAUTHN_TIMEOUT_SECS", "601")]).is_err());
        assert_eq!(
            settings(&[("WEBAUTHN_TIMEOUT_SECS", "2")])
                .unwrap()
                .timeout_secs(),
            2
        );
    }
}
