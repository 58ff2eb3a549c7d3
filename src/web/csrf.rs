//! CSRF protection for forms: a random nonce in an HttpOnly cookie, and in
//! the form an HMAC of that nonce under the server's key. A cross-site page
//! can neither read the cookie nor forge the HMAC.

use actix_web::cookie::{time::Duration, Cookie, SameSite};
use actix_web::HttpRequest;
use data_encoding::BASE64URL_NOPAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

const COOKIE_NAME: &str = "rollcall_csrf";
/// The hidden form field every state-changing form carries.
pub const FIELD_NAME: &str = "csrf_token";

pub struct CsrfKey {
    /// Keyed once at start-up; each token clones it.
    keyed: Hmac<Sha256>,
    secure_cookie: bool,
}

/// A token for a page's forms, and the cookie to set if the visitor had none.
pub struct CsrfToken {
    pub token: String,
    cookie: Option<Cookie<'static>>,
}

impl CsrfToken {
    pub fn cookie(&self) -> Option<Cookie<'static>> {
        self.cookie.clone()
    }
}

impl CsrfKey {
    pub fn new(secret: &[u8], secure_cookie: bool) -> Result<Self, hmac::digest::InvalidLength> {
        Ok(Self {
            keyed: <Hmac<Sha256> as Mac>::new_from_slice(secret)?,
            secure_cookie,
        })
    }

    fn mac(&self, nonce: &str) -> Hmac<Sha256> {
        let mut mac = self.keyed.clone();
        mac.update(b"rollcall-csrf:");
        mac.update(nonce.as_bytes());
        mac
    }

    fn nonce_of(req: &HttpRequest) -> Option<String> {
        req.cookie(COOKIE_NAME)
            .map(|c| c.value().to_string())
            .filter(|v| v.len() == 43 && BASE64URL_NOPAD.decode(v.as_bytes()).is_ok())
    }

    /// The token for this visitor, reusing their nonce so several open tabs
    /// all keep working.
    pub fn issue(&self, req: &HttpRequest) -> CsrfToken {
        let (nonce, cookie) = match Self::nonce_of(req) {
            Some(nonce) => (nonce, None),
            None => {
                let mut bytes = [0u8; 32];
                rand::rng().fill_bytes(&mut bytes);
                let nonce = BASE64URL_NOPAD.encode(&bytes);
                let cookie = Cookie::build(COOKIE_NAME, nonce.clone())
                    .path("/")
                    .http_only(true)
                    .secure(self.secure_cookie)
                    .same_site(SameSite::Lax)
                    .max_age(Duration::days(30))
                    .finish();
                (nonce, Some(cookie))
            }
        };
        let token = BASE64URL_NOPAD.encode(&self.mac(&nonce).finalize().into_bytes());
        CsrfToken { token, cookie }
    }

    /// Checks a form whose only field is the token (buttons like "Revoke").
    pub fn verify_form(&self, req: &HttpRequest, body: &[u8]) -> bool {
        #[derive(serde::Deserialize, Default)]
        #[serde(default)]
        struct TokenOnly {
            csrf_token: String,
        }
        let form: TokenOnly = serde_html_form::from_bytes(body).unwrap_or_default();
        self.verify(req, &form.csrf_token)
    }

    /// Checks a submitted token against the visitor's cookie, in constant time.
    pub fn verify(&self, req: &HttpRequest, submitted: &str) -> bool {
        let Some(nonce) = Self::nonce_of(req) else {
            return false;
        };
        let Ok(tag) = BASE64URL_NOPAD.decode(submitted.trim().as_bytes()) else {
            return false;
        };
        self.mac(&nonce).verify_slice(&tag).is_ok()
    }
}
