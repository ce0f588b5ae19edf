//! The session cookie's attributes.
//!
//! `__Host-medicare-session=<id>; Path=/; Secure; HttpOnly; SameSite=Strict`: the
//! `__Host-` prefix makes browsers refuse the cookie unless it is Secure, host-only
//! (no `Domain`) and for `/`, so a sibling subdomain cannot plant or read it. The one
//! exception is a server bound to a loopback address over plain `http://` (a laptop
//! demo): browsers drop Secure cookies there, so the cookie loses `Secure` and with it
//! the prefix (browsers refuse a `__Host-` cookie without `Secure`). Nothing else can
//! relax it.

use super::SessionId;
use crate::error::{Error, Result};
use secrecy::SecretString;
use std::net::SocketAddr;

/// The cookie's name when it is Secure.
pub const SECURE_NAME: &str = "__Host-medicare-session";
/// The cookie's name on a loopback `http://` bind.
pub const LOOPBACK_NAME: &str = "medicare-session";

/// Builds `Set-Cookie` values for the session cookie and finds it in `Cookie` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionCookie {
    secure: bool,
}

impl SessionCookie {
    /// The Secure cookie (every deployment behind `https://`).
    pub fn secure() -> Self {
        SessionCookie { secure: true }
    }

    /// The cookie for a server bound to `bind` and reached over `https` or not: Secure
    /// unless plain `http` on a loopback address. Plain `http` on any other address is
    /// refused: session cookies must not cross a network in the clear.
    pub fn for_bind(bind: SocketAddr, https: bool) -> Result<Self> {
        match (https, bind.ip().is_loopback()) {
            (true, _) => Ok(Self::secure()),
            (false, true) => Ok(SessionCookie { secure: false }),
            (false, false) => Err(Error::Config(format!(
                "operator sign-in over plain http:// is allowed only on a loopback address, not {bind}: serve it behind https://"
            ))),
        }
    }

    /// The cookie's name.
    pub fn name(&self) -> &'static str {
        if self.secure {
            SECURE_NAME
        } else {
            LOOPBACK_NAME
        }
    }

    fn attributes(&self) -> &'static str {
        if self.secure {
            "Path=/; Secure; HttpOnly; SameSite=Strict"
        } else {
            "Path=/; HttpOnly; SameSite=Strict"
        }
    }

    /// The `Set-Cookie` value that starts `id` (a browser-session cookie: the server
    /// enforces the idle and absolute limits). It holds the id: keep it out of logs.
    pub fn set(&self, id: &SessionId) -> SecretString {
        SecretString::from(format!(
            "{}={}; {}",
            self.name(),
            id.expose(),
            self.attributes()
        ))
    }

    /// The `Set-Cookie` value that removes the cookie (sign-out).
    pub fn clear(&self) -> String {
        format!("{}=; Max-Age=0; {}", self.name(), self.attributes())
    }

    /// The session id in a `Cookie` request header, if there is a well-formed one.
    pub fn find(&self, cookie_header: &str) -> Option<SessionId> {
        cookie_header.split(';').find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == self.name())
                .then(|| SessionId::parse(value))
                .flatten()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn the_secure_cookie_has_every_flag() {
        let id = SessionId::generate();
        let c = SessionCookie::for_bind("0.0.0.0:443".parse().unwrap(), true).unwrap();
        let header = c.set(&id);
        assert_eq!(
            header.expose_secret(),
            format!(
                "__Host-medicare-session={}; Path=/; Secure; HttpOnly; SameSite=Strict",
                id.expose()
            )
        );
        assert!(!header.expose_secret().contains("Domain"));
        assert!(c
            .clear()
            .contains("Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Strict"));
        assert_eq!(c, SessionCookie::secure());
    }

    #[test]
    fn secure_is_relaxed_only_for_loopback_http() {
        for bind in ["127.0.0.1:8080", "[::1]:8080"] {
            let c = SessionCookie::for_bind(bind.parse().unwrap(), false).unwrap();
            let header = c.set(&SessionId::generate());
            let header = header.expose_secret();
            assert!(header.starts_with("medicare-session="), "{header}");
            assert!(!header.contains("Secure") && !header.contains("__Host-"));
            assert!(header.ends_with("Path=/; HttpOnly; SameSite=Strict"));
        }
        for bind in ["0.0.0.0:8080", "192.0.2.10:80", "[::]:80"] {
            let e = SessionCookie::for_bind(bind.parse().unwrap(), false).unwrap_err();
            assert!(e.to_string().contains("loopback"), "{e}");
        }
        // https on loopback is still Secure.
        assert_eq!(
            SessionCookie::for_bind("127.0.0.1:8443".parse().unwrap(), true).unwrap(),
            SessionCookie::secure()
        );
    }

    #[test]
    fn finds_the_session_in_a_cookie_header() {
        let id = SessionId::generate();
        let c = SessionCookie::secure();
        let header = format!("theme=dark; {}={}; other=1", SECURE_NAME, id.expose());
        assert_eq!(c.find(&header).unwrap().hash(), id.hash());
        // The loopback name is not accepted by a Secure server, and junk is ignored.
        assert!(c
            .find(&format!("{LOOPBACK_NAME}={}", id.expose()))
            .is_none());
        assert!(c.find(&format!("{SECURE_NAME}=junk")).is_none());
        assert!(c.find("").is_none());
    }
}
