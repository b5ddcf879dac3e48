//! The one definition of the client API: the blocking and the async client are both written
//! here, once, so a fix lands in both by construction. Each flavour supplies only how it
//! waits for a token request: its `acquire` and `start_refresh_ahead`.

/// Defines `Client<H>` over the HTTP trait `$http`. `$($async)?` is `async` for the async
/// client, and `$($await)*` is `.await`; both are empty for the blocking one. `$caller` names
/// who waits: "thread" or "task".
macro_rules! define_client {
    (
        http: $http:ident,
        flavour: $flavour:ident,
        caller: $caller:literal,
        $(async: $async:tt,)?
        await: [$($await:tt)*],
        cancel_note: $cancel_note:literal $(,)?
    ) => {
        /// Options for a [`Client`].
        pub type ClientBuilder<H> = $crate::client::ClientBuilder<H, $crate::client::$flavour>;

        #[doc = concat!("An OAuth client for one credential: `Send + Sync`, cheap to clone; clones share the session. Each ", $caller, " that needs a token while none is usable waits for the one token request out.")]
        pub struct Client<H> {
            inner: ::std::sync::Arc<Driver<H, Waiter>>,
        }

        impl<H> Clone for Client<H> {
            fn clone(&self) -> Self {
                Self {
                    inner: ::std::sync::Arc::clone(&self.inner),
                }
            }
        }

        impl<H: $http> $crate::client::ClientBuilder<H, $crate::client::$flavour> {
            /// The client.
            pub fn build(self) -> Client<H> {
                Client {
                    inner: ::std::sync::Arc::new(self.into_driver()),
                }
            }
        }

        impl<H: $http> Client<H> {
            /// A client with the system clock, no store and default limits.
            pub fn new(config: $crate::Config, http: H) -> Self {
                Self::builder(config, http).build()
            }

            /// A builder for a client with a store, stored tokens, another clock or other limits.
            pub fn builder(config: $crate::Config, http: H) -> ClientBuilder<H> {
                ClientBuilder::new(config, http)
            }

            #[doc = concat!("A usable access token, fetching one if needed. While a token is valid this takes no lock; when one is needed, exactly one ", $caller, " sends the token request and every ", $caller, " waiting on it gets its outcome, failures included. Once the token reaches its refresh-ahead point ([`ConfigBuilder::refresh_ahead`](crate::ConfigBuilder::refresh_ahead)), the first caller starts the refresh in the background and every caller keeps using the still-valid token. ", $cancel_note)]
            ///
            /// # Errors
            /// The [`Error`](crate::Error) of the token request, or why none can be sent.
            pub $($async)? fn authorization(&self) -> Result<TokenGuard, $crate::Error> {
                match self.usable_now() $($await)* {
                    Some(token) => Ok(token),
                    None => self.acquire(Want::Usable) $($await)*,
                }
            }

            /// The usable token, from the lock-free path; past its refresh-ahead point, the first
            /// caller starts the refresh in the background, or, with
            /// [`foreground_refresh_ahead`](crate::client::ClientBuilder::foreground_refresh_ahead),
            /// the caller runs it and gets the new token.
            #[inline]
            $($async)? fn usable_now(&self) -> Option<TokenGuard> {
                if self.inner.foreground_refresh_ahead {
                    return self.usable_in_foreground() $($await)*;
                }
                let (token, refresh_ahead) = self.inner.usable()?;
                if refresh_ahead {
                    self.start_refresh_ahead();
                }
                Some(token)
            }

            /// Goes the slow path in the caller for `want` (a newer token than the one due, or a
            /// usable one once a failed save is done again). A failed refresh ahead is nobody's
            /// error while the token works: it is handed out then.
            $($async)? fn acquire_in_foreground(&self, want: Want) -> Option<TokenGuard> {
                match self.acquire(want) $($await)* {
                    Ok(token) => Some(token),
                    Err(_) => self.inner.usable_foreground().map(|(token, _)| token),
                }
            }

            /// Sets `Authorization` (and Keliweb's default headers) on `request`. Returns which
            /// token it used: hand it to [`report_unauthorized`](Self::report_unauthorized) if the
            /// API answers `401`.
            ///
            /// # Errors
            /// [`ErrorKind::UntrustedOrigin`](crate::ErrorKind::UntrustedOrigin) before any IO when
            /// the request's URL is not one the token may go to
            /// ([`Config::permits_token_to`](crate::Config::permits_token_to)); otherwise as
            /// [`authorization`](Self::authorization).
            pub $($async)? fn authorize<B>(
                &self,
                request: &mut ::http::Request<B>,
            ) -> Result<$crate::TokenId, $crate::Error> {
                if let Some(token) = self.usable_now() $($await)* {
                    return insert(&token, self.inner.origins(), request);
                }
                self.inner.check_origin(request)?;
                loop {
                    let token = self.acquire(Want::Usable) $($await)* ?;
                    // Usable a moment ago; if it reached its leeway since, fetch the next one.
                    if let Some(applied) = apply(&token, self.inner.now(), request) {
                        return applied;
                    }
                }
            }

            /// Reports that the API answered `401` to a request authorized with `token` (what
            /// [`authorize`](Self::authorize) returned), for callers that send their own requests.
            /// [`Unauthorized::RetryWithNewToken`]: the next [`authorization`](Self::authorization)
            /// or `authorize` gets a new token; retry once. [`Unauthorized::Report`]: a
            /// replacement was refused too; hand the `401` on instead of retrying (an API that
            /// refuses every token then costs at most one token request per minimum retry delay).
            pub fn report_unauthorized(&self, token: $crate::TokenId) -> Unauthorized {
                self.inner.unauthorized(token)
            }

            /// Authorizes and sends an API request. On a `401` the token is refreshed once and the
            /// request sent once more; a `401` that survives that is returned as it is.
            ///
            /// # Errors
            /// A token error, or [`ErrorKind::Transport`](crate::ErrorKind::Transport) when the
            /// API call got no complete response.
            pub $($async)? fn send(
                &self,
                request: ::http::Request<Vec<u8>>,
            ) -> Result<::http::Response<Vec<u8>>, $crate::Error> {
                let retry = copy_request(&request);
                let (token, response) = self.send_once(request) $($await)* ?;
                if !is_unauthorized(&response) {
                    return Ok(response);
                }
                match self.inner.unauthorized(token) {
                    Unauthorized::Report => Ok(response),
                    Unauthorized::RetryWithNewToken => Ok(self.send_once(retry) $($await)* ?.1),
                }
            }

            $($async)? fn send_once(
                &self,
                mut request: ::http::Request<Vec<u8>>,
            ) -> Result<($crate::TokenId, ::http::Response<Vec<u8>>), $crate::Error> {
                let token = self.authorize(&mut request) $($await)* ?;
                let limits = self.inner.limits.api_request();
                let response = self.inner.http.execute(request, limits) $($await)* ?;
                Ok((token, response))
            }

            #[doc = concat!("Refreshes now, even if the current token is still valid, and returns the new token. Other callers keep using the current token until the new one is in. A dead refresh token leads to one password login (when the password is kept), as an expiry would; the token that was current is never what this returns. ", $cancel_note)]
            ///
            /// # Errors
            /// The error of the token request, or, while a retry pause or a stop keeps any request
            /// from going out, the error that caused it. The current token stays in use either way.
            pub $($async)? fn force_refresh(&self) -> Result<TokenGuard, $crate::Error> {
                // The stored set first: adopting it is not the refresh asked for.
                if let Some(custody) = self.inner.unloaded_store() {
                    self.load_store(custody) $($await)* ?;
                }
                let want = self.inner.force_refresh();
                self.acquire(want) $($await)*
            }

            /// Logs out: drops the tokens locally at once, erases the stored set, then asks the
            /// server to revoke them as configured. Call [`login`](Self::login) to start again.
            ///
            /// # Errors
            /// The first revocation request that failed, else the store's failure to erase the
            /// set; the tokens are gone locally regardless.
            pub $($async)? fn revoke(&self) -> Result<(), $crate::Error> {
                let requests = self.inner.begin_revoke();
                self.abandon_token_request();
                // Before the server hears of it: no other process adopts the revoked set.
                let erased = self.erase_store() $($await)*;
                // Every request is guarded before the first is sent, so a cancelled or unwinding
                // revoke still releases the ones it never reached.
                let outgoing: Vec<_> = requests
                    .into_iter()
                    .map(|outgoing| {
                        let (id, request) = outgoing.into_parts();
                        (Pending::new(&*self.inner, id, OnDrop::Abandon), request)
                    })
                    .collect();
                let mut first_error = None;
                for (pending, request) in outgoing {
                    let limits = self.inner.limits.token_request();
                    let outcome = self.inner.http.execute(request, limits) $($await)*;
                    if let Err(error) = pending.finish(outcome) {
                        first_error.get_or_insert(error);
                    }
                }
                match (first_error, erased) {
                    (Some(error), _) => Err(error),
                    (None, Err(store)) => Err(store.into()),
                    (None, Ok(())) => Ok(()),
                }
            }

            /// The store's last failure (a save refused or not done), until a save succeeds. A
            /// set whose save failed is kept and used (it works), and saved again before the next
            /// token request.
            #[must_use]
            pub fn store_error(&self) -> Option<$crate::StoreError> {
                self.inner.store_error()
            }

            /// Supplies credentials for the next token request (after `LoginRequired`,
            /// `InvalidCredentials`, or a revocation).
            pub fn login(&self, credentials: $crate::Credentials) {
                self.inner.login(credentials);
            }

            /// A copy of the token set callers are handed: with a store, a new set shows here once
            /// its save is done (or failed, and it is used anyway), never while it is being saved.
            #[must_use]
            pub fn tokens(&self) -> Option<$crate::TokenSet> {
                self.inner.tokens()
            }
        }
    };
}

pub(crate) use define_client;
