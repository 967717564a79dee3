//! Who is calling: JWT bearer tokens, HS256 with a shared secret and/or RS256 with a public key,
//! with the claims `sub` (the user id), `role` (`user` or `admin`) and `exp` (required).
//!
//! Owns token checking and minting ([`mint_hs256`], for `shop-token` and tests). What a caller
//! may do is decided by the handlers: their own cart and orders; catalog writes for admins.

use crate::settings::AuthSettings;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Clock skew tolerated on `exp`, in seconds.
const LEEWAY_SECS: u64 = 30;
/// Longest accepted `sub`: it becomes a Kafka key and part of order ids.
const MAX_SUBJECT_LEN: usize = 128;

/// What a caller may do beyond their own cart and orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "user" => Ok(Self::User),
            "admin" => Ok(Self::Admin),
            other => Err(format!("unknown role {other:?}: use user or admin")),
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's `sub`.
    pub user_id: String,
    pub role: Role,
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// The claims of our tokens. `role` is optional here only so its absence gets its own message.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: Option<String>,
    role: Option<String>,
    exp: u64,
}

/// Why a request is not authenticated (401). The text goes to the client: it names what is
/// wrong with the token, never a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("an Authorization: Bearer token is required")]
    Missing,
    #[error("the Authorization header is not a Bearer token")]
    NotBearer,
    #[error("the token has expired")]
    Expired,
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token is signed with {0}, which this service does not accept")]
    UnsupportedAlgorithm(String),
    #[error("the token has no {0} claim")]
    MissingClaim(&'static str),
    #[error("the token is invalid: {0}")]
    Invalid(String),
}

/// Why the authenticator cannot be built from its settings (a deployment problem).
#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    #[error("no JWT key configured: set SHOP_JWT_SECRET and/or SHOP_JWT_PUBLIC_KEY_FILE")]
    NoKey,
    #[error("SHOP_JWT_SECRET is empty")]
    EmptySecret,
    #[error("cannot read the JWT public key {path}: {source}")]
    ReadKey {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the JWT public key is not an RSA public key in PEM: {0}")]
    BadKey(String),
}

/// Checks bearer tokens.
pub struct Authenticator {
    hs256: Option<DecodingKey>,
    rs256: Option<DecodingKey>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("hs256", &self.hs256.is_some())
            .field("rs256", &self.rs256.is_some())
            .finish()
    }
}

impl Authenticator {
    /// Accepts HS256 tokens signed with `secret`.
    pub fn hs256(secret: &[u8]) -> Self {
        Self {
            hs256: Some(DecodingKey::from_secret(secret)),
            rs256: None,
        }
    }

    /// Accepts RS256 tokens signed by the private half of `public_key_pem` (too).
    ///
    /// # Errors
    /// [`AuthConfigError::BadKey`] if the PEM is not an RSA public key.
    pub fn with_rs256_pem(mut self, public_key_pem: &[u8]) -> Result<Self, AuthConfigError> {
        let key = DecodingKey::from_rsa_pem(public_key_pem)
            .map_err(|error| AuthConfigError::BadKey(error.to_string()))?;
        self.rs256 = Some(key);
        Ok(self)
    }

    /// Accepts RS256 tokens only.
    ///
    /// # Errors
    /// As [`Authenticator::with_rs256_pem`].
    pub fn rs256_pem(public_key_pem: &[u8]) -> Result<Self, AuthConfigError> {
        Self {
            hs256: None,
            rs256: None,
        }
        .with_rs256_pem(public_key_pem)
    }

    /// The authenticator `settings` describe; reads the public key file.
    ///
    /// # Errors
    /// [`AuthConfigError`] if no key is configured or the key file is unusable.
    pub fn from_settings(settings: &AuthSettings) -> Result<Self, AuthConfigError> {
        let mut authenticator = Self {
            hs256: None,
            rs256: None,
        };
        if let Some(secret) = &settings.hs256_secret {
            if secret.expose().is_empty() {
                return Err(AuthConfigError::EmptySecret);
            }
            if secret.expose().len() < 32 {
                tracing::warn!("SHOP_JWT_SECRET is shorter than 32 bytes; use a longer one");
            }
            authenticator.hs256 = Some(DecodingKey::from_secret(secret.expose().as_bytes()));
        }
        if let Some(path) = &settings.rs256_public_key_file {
            let pem = std::fs::read(path).map_err(|source| AuthConfigError::ReadKey {
                path: path.display().to_string(),
                source,
            })?;
            authenticator = authenticator.with_rs256_pem(&pem)?;
        }
        if authenticator.hs256.is_none() && authenticator.rs256.is_none() {
            return Err(AuthConfigError::NoKey);
        }
        Ok(authenticator)
    }

    /// The caller an `Authorization` header value names.
    ///
    /// # Errors
    /// [`AuthError`] saying what is wrong with the header or token.
    pub fn authenticate(&self, authorization: Option<&[u8]>) -> Result<Caller, AuthError> {
        let header = authorization.ok_or(AuthError::Missing)?;
        let header = std::str::from_utf8(header).map_err(|_| AuthError::NotBearer)?;
        let token = bearer_token(header).ok_or(AuthError::NotBearer)?;
        self.verify(token)
    }

    /// The caller a bare token names.
    ///
    /// # Errors
    /// [`AuthError`] saying what is wrong with the token.
    pub fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(token_error)?;
        // The key is picked by algorithm and each key serves exactly one algorithm, so a token
        // cannot make us verify an HMAC with the RSA public key.
        let key = match header.alg {
            Algorithm::HS256 => self.hs256.as_ref(),
            Algorithm::RS256 => self.rs256.as_ref(),
            _ => None,
        }
        .ok_or_else(|| AuthError::UnsupportedAlgorithm(format!("{:?}", header.alg)))?;
        let mut validation = Validation::new(header.alg);
        validation.leeway = LEEWAY_SECS;
        validation.set_required_spec_claims(&["exp"]);
        validation.validate_aud = false;
        let claims = jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map_err(token_error)?
            .claims;
        let user_id = claims.sub.ok_or(AuthError::MissingClaim("sub"))?;
        if user_id.trim().is_empty()
            || user_id.len() > MAX_SUBJECT_LEN
            || user_id.chars().any(char::is_control)
        {
            return Err(AuthError::Invalid(format!(
                "sub must be 1 to {MAX_SUBJECT_LEN} characters without control characters"
            )));
        }
        let role = claims.role.ok_or(AuthError::MissingClaim("role"))?;
        let role = role.parse().map_err(AuthError::Invalid)?;
        Ok(Caller { user_id, role })
    }
}

/// The token of `Bearer <token>` (scheme case-insensitive, RFC 6750).
fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn token_error(error: jsonwebtoken::errors::Error) -> AuthError {
    match error.kind() {
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::InvalidSignature => AuthError::BadSignature,
        ErrorKind::MissingRequiredClaim(claim) if claim == "exp" => AuthError::MissingClaim("exp"),
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            AuthError::UnsupportedAlgorithm("an algorithm".to_owned())
        }
        ErrorKind::Json(error) => AuthError::Invalid(format!("claims do not parse: {error}")),
        _ => AuthError::Invalid(error.to_string()),
    }
}

/// Why a token could not be minted.
#[derive(Debug, thiserror::Error)]
#[error("cannot mint a token: {0}")]
pub struct MintError(String);

/// An HS256 token for `sub` with `role`, valid for `ttl` (development and tests).
///
/// # Errors
/// [`MintError`] if the secret is empty or signing fails.
pub fn mint_hs256(
    secret: &[u8],
    sub: &str,
    role: Role,
    ttl: Duration,
) -> Result<String, MintError> {
    if secret.is_empty() {
        return Err(MintError("the secret is empty".to_owned()));
    }
    let claims = Claims {
        sub: Some(sub.to_owned()),
        role: Some(role.as_str().to_owned()),
        exp: jsonwebtoken::get_current_timestamp().saturating_add(ttl.as_secs()),
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret),
    )
    .map_err(|error| MintError(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minted_token_verifies() {
        let token = mint_hs256(b"secret", "alice", Role::Admin, Duration::from_secs(60)).unwrap();
        let caller = Authenticator::hs256(b"secret").verify(&token).unwrap();
        assert_eq!(caller.user_id, "alice");
        assert!(caller.is_admin());
    }

    #[test]
    fn bearer_scheme_is_case_insensitive_and_required() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
    }

    #[test]
    fn settings_name_the_keys() {
        use crate::settings::AuthSettings;
        let error = Authenticator::from_settings(&AuthSettings::default()).unwrap_err();
        assert!(matches!(error, AuthConfigError::NoKey), "{error}");
        let error = Authenticator::from_settings(&AuthSettings::hs256("")).unwrap_err();
        assert!(matches!(error, AuthConfigError::EmptySecret), "{error}");

        let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let both = AuthSettings {
            rs256_public_key_file: Some(fixtures.join("rs256-test-public.pem")),
            ..AuthSettings::hs256("secret")
        };
        let authenticator = Authenticator::from_settings(&both).unwrap();
        assert!(authenticator.hs256.is_some() && authenticator.rs256.is_some());

        let missing = AuthSettings {
            hs256_secret: None,
            rs256_public_key_file: Some(fixtures.join("no-such-key.pem")),
        };
        let error = Authenticator::from_settings(&missing).unwrap_err();
        assert!(matches!(error, AuthConfigError::ReadKey { .. }), "{error}");

        let not_a_key = AuthSettings {
            hs256_secret: None,
            rs256_public_key_file: Some(fixtures.join("README")),
        };
        let error = Authenticator::from_settings(&not_a_key).unwrap_err();
        assert!(matches!(error, AuthConfigError::BadKey(_)), "{error}");
    }

    #[test]
    fn a_control_character_in_sub_is_refused() {
        let token = mint_hs256(b"s", "a\nb", Role::User, Duration::from_secs(60)).unwrap();
        let error = Authenticator::hs256(b"s").verify(&token).unwrap_err();
        assert!(matches!(error, AuthError::Invalid(_)), "{error:?}");
    }
}
