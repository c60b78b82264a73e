//! Who is calling: passwords (argon2id), session cookies with CSRF tokens
//! for the browser, hashed bearer tokens for the API, and login throttling.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts, Method};
use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};
use varde_domain::access::{Permission, Role};
use varde_store::directory::User;

use crate::error::AppError;
use crate::state::AppState;

pub const SESSION_COOKIE: &str = "varde_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

pub async fn hash_password(password: String) -> Result<String, AppError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string())
    })
    .await
    .map_err(|e| AppError::Internal(e.to_string()))?
    .map_err(|e| AppError::Internal(e.to_string()))
}

/// Checks a password; a missing hash (a user who may not log in) verifies
/// against a dummy so that timing does not tell which accounts exist.
pub async fn verify_password(hash: Option<String>, password: String) -> bool {
    tokio::task::spawn_blocking(move || {
        const DUMMY: &str =
            "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$mD6eIqM0m2Kz6Ew3E3S9Bh3dZ0+zbBzYtX0nKq2ZQ1o";
        let h = hash.unwrap_or_else(|| DUMMY.to_string());
        match PasswordHash::new(&h) {
            Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok() && h != DUMMY,
            Err(_) => false,
        }
    })
    .await
    .unwrap_or(false)
}

/// A fresh secret: 32 random bytes, URL-safe.
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// Tokens are stored only as their SHA-256: they are long random secrets,
/// so a fast hash is enough and keeps every API request cheap.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// How the caller proved who they are.
#[derive(Debug, Clone)]
pub enum Via {
    Session { token_hash: String, csrf: String },
    Token,
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: User,
    pub via: Via,
}

impl Caller {
    pub fn id(&self) -> i64 {
        self.user.id
    }
    pub fn role(&self) -> Role {
        self.user.role
    }
    pub fn can(&self, p: Permission) -> bool {
        self.user.role.can(p)
    }
    pub fn require(&self, p: Permission) -> Result<(), AppError> {
        if self.can(p) {
            Ok(())
        } else {
            Err(AppError::Forbidden)
        }
    }
    pub fn csrf(&self) -> &str {
        match &self.via {
            Via::Session { csrf, .. } => csrf,
            Via::Token => "",
        }
    }
}

pub fn cookie_value<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts.headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(
        |c| {
            let (k, v) = c.trim().split_once('=')?;
            (k == name).then_some(v)
        },
    )
}

/// Finds the caller from a bearer token or a session cookie. For a session,
/// an unsafe method must carry the session's CSRF token in the
/// `X-CSRF-Token` header (forms are checked by the UI, which reads the body).
pub async fn authenticate(parts: &Parts, state: &AppState) -> Result<Option<Caller>, AppError> {
    if let Some(auth) = parts.headers.get(header::AUTHORIZATION) {
        let auth = auth.to_str().map_err(|_| AppError::Unauthorized)?;
        // The scheme is case-insensitive (RFC 9110 section 11.1).
        let (scheme, token) = auth.split_once(' ').ok_or(AppError::Unauthorized)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AppError::Unauthorized);
        }
        let token = token.trim();
        let user = state.store.token_user(&token_hash(token)).await?.ok_or(AppError::Unauthorized)?;
        return Ok(Some(Caller { user, via: Via::Token }));
    }
    let Some(cookie) = cookie_value(parts, SESSION_COOKIE) else { return Ok(None) };
    let th = token_hash(cookie);
    let Some((user, csrf)) = state.store.session_user(&th).await? else { return Ok(None) };
    Ok(Some(Caller { user, via: Via::Session { token_hash: th, csrf } }))
}

fn is_unsafe(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The API's extractor: a caller is required, and cookie callers must send
/// the CSRF header on writes.
impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let caller = authenticate(parts, state).await?.ok_or(AppError::Unauthorized)?;
        if let Via::Session { csrf, .. } = &caller.via {
            if is_unsafe(&parts.method) {
                let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
                if !constant_time_eq(sent.as_bytes(), csrf.as_bytes()) {
                    return Err(AppError::Forbidden);
                }
            }
        }
        Ok(caller)
    }
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Refuses logins for an account or address after repeated failures.
/// Kept in memory per node: an attacker spreading guesses over nodes gets
/// at most `MAX_FAILURES` per node per window, which argon2's cost already
/// makes slow.
#[derive(Default)]
pub struct Throttle {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

const MAX_FAILURES: u32 = 5;
const WINDOW: Duration = Duration::from_secs(15 * 60);

impl Throttle {
    /// Seconds to wait, if the key is locked out.
    pub fn check(&self, key: &str) -> Option<u64> {
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let (n, since) = map.get(key)?;
        let elapsed = since.elapsed();
        (*n >= MAX_FAILURES && elapsed < WINDOW).then(|| (WINDOW - elapsed).as_secs().max(1))
    }
    pub fn fail(&self, key: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 100_000 {
            map.retain(|_, (_, since)| since.elapsed() < WINDOW);
        }
        let e = map.entry(key.to_string()).or_insert((0, Instant::now()));
        if e.1.elapsed() >= WINDOW {
            *e = (0, Instant::now());
        }
        e.0 += 1;
    }
    pub fn succeed(&self, key: &str) {
        self.failures.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }
}

/// Checks an e-mail and password, with throttling. Returns the user.
pub async fn login(state: &AppState, email: &str, password: String, peer: &str) -> Result<User, AppError> {
    let email = email.trim().to_lowercase();
    let keys = [format!("email:{email}"), format!("ip:{peer}")];
    if let Some(wait) = keys.iter().filter_map(|k| state.throttle.check(k)).max() {
        return Err(AppError::TooManyRequests { retry_after: wait });
    }
    let found = state.store.user_for_login(&email).await?;
    let (user, hash) = match found {
        Some((u, h)) => (Some(u), h),
        None => (None, None),
    };
    let ok = verify_password(hash, password).await;
    match user {
        Some(u) if ok && u.active => {
            for k in &keys {
                state.throttle.succeed(k);
            }
            Ok(u)
        }
        _ => {
            for k in &keys {
                state.throttle.fail(k);
            }
            Err(AppError::field("email", "e-mail or password is wrong"))
        }
    }
}

/// Starts a session; returns the cookie value to set.
pub async fn start_session(state: &AppState, user_id: i64) -> Result<String, AppError> {
    let token = random_token();
    let expires = varde_store::now_micros() + state.config.session_hours * 3_600_000_000;
    state.store.create_session(token_hash(&token), user_id, random_token(), expires).await?;
    Ok(token)
}

pub fn session_cookie(state: &AppState, token: &str) -> String {
    format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
        state.config.session_hours * 3600,
        if state.config.secure_cookies { "; Secure" } else { "" }
    )
}

pub fn clear_cookie() -> String {
    format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passwords_hash_and_verify() {
        let h = hash_password("correct horse battery".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(Some(h.clone()), "correct horse battery".into()).await);
        assert!(!verify_password(Some(h), "wrong".into()).await);
        assert!(!verify_password(None, "anything".into()).await);
    }

    #[test]
    fn throttle_locks_after_failures() {
        let t = Throttle::default();
        for _ in 0..MAX_FAILURES {
            assert!(t.check("k").is_none());
            t.fail("k");
        }
        assert!(t.check("k").is_some());
        t.succeed("k");
        assert!(t.check("k").is_none());
    }
}
