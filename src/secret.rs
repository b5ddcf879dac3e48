//! Secret newtypes: values that must never reach a log.
//!
//! Each type redacts itself in `Debug` and `Display`, wipes its bytes when dropped, has no
//! `PartialEq` (comparing secrets is rarely what you want and invites timing leaks), and hands
//! its value out only through `expose_secret`, so every place that reads a secret says so.

use std::fmt;

use zeroize::Zeroizing;

macro_rules! secret_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name(Zeroizing<String>);

        impl $name {
            /// Wraps a secret value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(Zeroizing::new(value.into()))
            }

            /// The secret value itself. Every call site is a place where the secret leaves
            /// the type's protection: keep it out of logs.
            #[must_use]
            pub fn expose_secret(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("[redacted]")
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self::new(value)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self::new(value)
            }
        }
    };
}

secret_type!(
    /// The OAuth client secret ("API secret" in Keliweb's panel).
    ClientSecret
);
secret_type!(
    /// The account password used by the password grant.
    Password
);
secret_type!(
    /// An access token, sent as `Authorization: Bearer …` on API calls.
    AccessToken
);
secret_type!(
    /// A refresh token. Keliweb's work exactly once: every refresh returns a new one
    /// (`docs/passport.md#rotation`).
    RefreshToken
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let secret = ClientSecret::new("hunter2-super-secret");
        assert_eq!(format!("{secret:?}"), "ClientSecret([redacted])");
        assert_eq!(format!("{secret}"), "[redacted]");
        assert_eq!(secret.expose_secret(), "hunter2-super-secret");
    }
}
