//! Who a client is, and what it may use.
//!
//! Development auth (the default) takes the user's word: `?user=NAME`. With a JWT key
//! (`jwt_secret` for HS256, or `jwt_public_key` for RS256/ES256), the identity is the
//! token's `sub`; `exp` is checked at connect (with at most 60 s of leeway) and enforced
//! while connected; a `channels` claim (names or `prefix*` patterns) limits what the user
//! may subscribe and publish to. In JWT mode `?user=` is not an identity.

use crate::config::Config;
use crate::protocol::check_user;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Channel names or `prefix*` patterns.
///
/// ```
/// let p = wsx_hub::auth::Patterns::new(["chat:*", "news"]);
/// assert!(p.matches("chat:lobby") && p.matches("news") && !p.matches("newsroom"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Patterns(Vec<String>);

impl Patterns {
    /// Patterns from their texts.
    pub fn new<S: Into<String>>(patterns: impl IntoIterator<Item = S>) -> Self {
        Patterns(patterns.into_iter().map(Into::into).collect())
    }

    /// Whether `channel` matches one of them.
    pub fn matches(&self, channel: &str) -> bool {
        self.0.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => channel.starts_with(prefix),
            None => p == channel,
        })
    }
}

/// An authenticated client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user id.
    pub user: Arc<str>,
    /// The channels it may use; `None`: all.
    pub channels: Option<Arc<Patterns>>,
    /// When its token expires (JWT mode).
    pub expires_at: Option<SystemTime>,
}

impl Identity {
    /// Whether it may subscribe and publish to `channel`.
    ///
    /// ```
    /// let id = wsx_hub::auth::Identity { user: "a".into(), channels: None, expires_at: None };
    /// assert!(id.may_use("anything"));
    /// ```
    pub fn may_use(&self, channel: &str) -> bool {
        self.channels.as_ref().is_none_or(|p| p.matches(channel))
    }

    /// Time left before the token expires, `None` if it never does.
    pub fn remaining(&self) -> Option<Duration> {
        self.expires_at
            .map(|t| t.duration_since(SystemTime::now()).unwrap_or_default())
    }
}

/// Why a client was refused (HTTP 401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No identity given.
    #[error("no identity: connect with ?{0}=")]
    Missing(&'static str),
    /// The user id is not acceptable.
    #[error("invalid user id: {0}")]
    BadUser(String),
    /// The token is invalid, expired, or signed with another key.
    #[error("invalid token: {0}")]
    BadToken(String),
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    exp: Option<u64>,
    channels: Option<Vec<String>>,
}

enum Mode {
    Development,
    /// Boxed: the key and validation rules are large, development mode is nothing.
    Jwt(Box<(DecodingKey, Validation)>),
}

/// Turns a request's credentials into an [`Identity`].
pub struct Authenticator {
    mode: Mode,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.mode {
            Mode::Development => "Authenticator(development)",
            Mode::Jwt(_) => "Authenticator(jwt)",
        })
    }
}

/// A key that could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("cannot load the JWT key: {0}")]
pub struct KeyError(String);

impl Authenticator {
    /// The authenticator the configuration asks for.
    pub fn from_config(config: &Config) -> Result<Authenticator, KeyError> {
        let (key, algorithm) = if let Some(secret) = &config.jwt_secret {
            (DecodingKey::from_secret(secret.as_bytes()), Algorithm::HS256)
        } else if let Some(path) = &config.jwt_public_key {
            let pem = std::fs::read(path).map_err(|e| KeyError(format!("{}: {e}", path.display())))?;
            match config.jwt_algorithm.as_str() {
                "ES256" => (
                    DecodingKey::from_ec_pem(&pem).map_err(|e| KeyError(e.to_string()))?,
                    Algorithm::ES256,
                ),
                _ => (
                    DecodingKey::from_rsa_pem(&pem).map_err(|e| KeyError(e.to_string()))?,
                    Algorithm::RS256,
                ),
            }
        } else {
            return Ok(Authenticator {
                mode: Mode::Development,
            });
        };
        let mut validation = Validation::new(algorithm);
        validation.leeway = config.jwt_leeway.min(60);
        validation.validate_exp = true;
        // `exp` is honoured when present; `sub` is the identity and must be there.
        validation.set_required_spec_claims(&["sub"]);
        Ok(Authenticator {
            mode: Mode::Jwt(Box::new((key, validation))),
        })
    }

    /// Whether anyone may claim any user id (development auth).
    pub fn is_development(&self) -> bool {
        matches!(self.mode, Mode::Development)
    }

    /// The identity in a request's `user` and `token` query parameters.
    pub fn identify(&self, user: Option<&str>, token: Option<&str>) -> Result<Identity, AuthError> {
        match &self.mode {
            Mode::Development => {
                let user = user.ok_or(AuthError::Missing("user"))?;
                check_user(user).map_err(AuthError::BadUser)?;
                Ok(Identity {
                    user: user.into(),
                    channels: None,
                    expires_at: None,
                })
            }
            Mode::Jwt(jwt) => {
                let (key, validation) = &**jwt;
                let token = token.ok_or(AuthError::Missing("token"))?;
                let data = jsonwebtoken::decode::<Claims>(token, key, validation)
                    .map_err(|e| AuthError::BadToken(e.to_string()))?;
                let claims = data.claims;
                check_user(&claims.sub).map_err(AuthError::BadUser)?;
                let expires_at = claims
                    .exp
                    .map(|s| UNIX_EPOCH + Duration::from_secs(s) + Duration::from_secs(validation.leeway));
                // jsonwebtoken compares whole seconds and still accepts the second of
                // `exp` + leeway itself; a session would then close at once with 4001.
                // "The current time MUST be before" it (RFC 7519 §4.1.4): refuse here.
                if expires_at.is_some_and(|t| t <= SystemTime::now()) {
                    return Err(AuthError::BadToken("ExpiredSignature".into()));
                }
                Ok(Identity {
                    user: claims.sub.into(),
                    channels: claims.channels.map(|c| Arc::new(Patterns::new(c))),
                    expires_at,
                })
            }
        }
    }
}

/// Whether a browser `Origin` may connect: any when the list is empty, and always
/// when there is no `Origin` (a non-browser client).
///
/// ```
/// let allowed = vec!["https://app.example".to_string()];
/// assert!(wsx_hub::auth::origin_allowed(&allowed, Some("https://APP.example/")));
/// assert!(!wsx_hub::auth::origin_allowed(&allowed, Some("https://evil.example")));
/// assert!(wsx_hub::auth::origin_allowed(&allowed, None));
/// ```
pub fn origin_allowed(allowed: &[String], origin: Option<&str>) -> bool {
    let Some(origin) = origin else { return true };
    if allowed.is_empty() {
        return true;
    }
    let origin = origin.trim().trim_end_matches('/');
    allowed
        .iter()
        .any(|a| a == "*" || a.trim_end_matches('/').eq_ignore_ascii_case(origin))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header, encode};

    fn jwt_config() -> Config {
        Config {
            jwt_secret: Some("s3cret".into()),
            ..Config::default()
        }
    }

    fn token(claims: serde_json::Value, secret: &str) -> String {
        encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    fn now() -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
    }

    #[test]
    fn development_auth_takes_the_user_id() {
        let a = Authenticator::from_config(&Config::default()).unwrap();
        assert_eq!(&*a.identify(Some("ann"), None).unwrap().user, "ann");
        assert_eq!(a.identify(None, Some("t")), Err(AuthError::Missing("user")));
        assert!(matches!(
            a.identify(Some("a b"), None),
            Err(AuthError::BadUser(_))
        ));
    }

    #[test]
    fn jwt_checks_signature_expiry_and_channels() {
        let a = Authenticator::from_config(&jwt_config()).unwrap();
        let good = token(
            serde_json::json!({"sub":"bob","exp": now() + 60, "channels":["chat:*"]}),
            "s3cret",
        );
        let id = a.identify(Some("mallory"), Some(&good)).unwrap();
        assert_eq!(&*id.user, "bob");
        assert!(id.may_use("chat:x") && !id.may_use("admin"));
        assert!(id.remaining().unwrap() > Duration::from_secs(60));
        // ?user= is not an identity in JWT mode.
        assert_eq!(a.identify(Some("bob"), None), Err(AuthError::Missing("token")));
        for bad in [
            token(serde_json::json!({"sub":"bob","exp": now() - 120}), "s3cret"),
            token(serde_json::json!({"sub":"bob"}), "other"),
            token(serde_json::json!({"exp": now() + 60}), "s3cret"),
            "not.a.token".into(),
        ] {
            assert!(
                matches!(a.identify(None, Some(&bad)), Err(AuthError::BadToken(_))),
                "{bad}"
            );
        }
        // Within the leeway (30 s by default) an expired token still passes.
        let recent = token(serde_json::json!({"sub":"bob","exp": now() - 10}), "s3cret");
        assert!(a.identify(None, Some(&recent)).is_ok());
    }

    #[test]
    fn jwt_refuses_a_token_with_no_time_left() {
        // Without leeway, a token in the second of its `exp` has none left: refused at
        // connect, not admitted to be closed at once with 4001.
        let a = Authenticator::from_config(&Config {
            jwt_leeway: 0,
            ..jwt_config()
        })
        .unwrap();
        let ending = token(serde_json::json!({"sub":"bob","exp": now()}), "s3cret");
        assert!(matches!(
            a.identify(None, Some(&ending)),
            Err(AuthError::BadToken(_))
        ));
        let later = token(serde_json::json!({"sub":"bob","exp": now() + 60}), "s3cret");
        assert!(a.identify(None, Some(&later)).is_ok());
    }

    /// An ES256 key file (`jwt_public_key` + `jwt_algorithm = "ES256"`): tokens signed by
    /// its private key pass, tokens signed by another key do not.
    #[test]
    fn es256_tokens_with_a_public_key_file() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let other = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let dir = std::env::temp_dir().join(format!("wsx-hub-es256-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let public = dir.join("jwt.pub.pem");
        std::fs::write(&public, key.public_key_pem()).unwrap();
        let config = Config {
            jwt_public_key: Some(public),
            jwt_algorithm: "ES256".into(),
            ..Config::default()
        };
        let a = Authenticator::from_config(&config).unwrap();
        let sign = |k: &rcgen::KeyPair| {
            let claims = serde_json::json!({"sub": "erin", "exp": now() + 60});
            encode(
                &Header::new(Algorithm::ES256),
                &claims,
                &EncodingKey::from_ec_pem(k.serialize_pem().as_bytes()).unwrap(),
            )
            .unwrap()
        };
        assert_eq!(&*a.identify(None, Some(&sign(&key))).unwrap().user, "erin");
        assert!(matches!(
            a.identify(None, Some(&sign(&other))),
            Err(AuthError::BadToken(_))
        ));
        // An HS256 token with the public key as its secret (the classic confusion) fails.
        let confused = token(
            serde_json::json!({"sub":"erin","exp": now() + 60}),
            &key.public_key_pem(),
        );
        assert!(matches!(
            a.identify(None, Some(&confused)),
            Err(AuthError::BadToken(_))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
