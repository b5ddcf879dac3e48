//! RFC 7009 revocation and Bearer logout, the two styles the crate supports
//! (`docs/passport.md#revocation`).

use keliweb_emulator::{Emulator, EmulatorConfig};

use crate::support::*;

fn revoke(emu: &Emulator, token: &str, hint: Option<&str>) -> Seen {
    let c = emu.config().clone();
    let mut fields = vec![
        ("token", token),
        ("client_id", c.client_id.as_str()),
        ("client_secret", c.client_secret.as_str()),
    ];
    if let Some(hint) = hint {
        fields.push(("token_type_hint", hint));
    }
    post_form(&emu.revoke_url(), &fields)
}

#[test]
fn rfc7009_revoking_the_access_token_kills_the_pair() {
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let pair = login(&emu);
    let seen = revoke(&emu, &pair.access, Some("access_token"));
    assert_eq!((seen.status, seen.body.as_str()), (200, ""));
    assert_eq!(get_bearer(&emu.api_url(), &pair.access).status, 401);
    assert_eq!(refresh_raw(&emu, &pair.refresh).status, 401);
    assert_eq!(emu.counters().rfc7009_revocations, 1);
}

#[test]
fn rfc7009_revoking_the_refresh_token_kills_the_pair_whatever_the_hint() {
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let pair = login(&emu);
    let seen = revoke(&emu, &pair.refresh, Some("access_token"));
    assert_eq!((seen.status, seen.body.as_str()), (200, ""));
    assert_eq!(get_bearer(&emu.api_url(), &pair.access).status, 401);
    assert_eq!(
        refresh_raw(&emu, &pair.refresh).json()["hint"],
        "Token has been revoked"
    );
}

#[test]
fn rfc7009_unknown_tokens_get_200_and_bad_clients_401() {
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    assert_eq!(revoke(&emu, "never-issued", None).status, 200);
    // Revoking twice is fine too.
    let pair = login(&emu);
    assert_eq!(
        revoke(&emu, &pair.refresh, Some("refresh_token")).status,
        200
    );
    assert_eq!(
        revoke(&emu, &pair.refresh, Some("refresh_token")).status,
        200
    );

    let c = emu.config().clone();
    let other = login(&emu);
    let bad = post_form(
        &emu.revoke_url(),
        &[
            ("token", &other.access),
            ("client_id", &c.client_id),
            ("client_secret", "wrong"),
        ],
    );
    assert_eq!(bad.status, 401);
    assert_eq!(bad.json()["error"], "invalid_client");
    assert_eq!(get_bearer(&emu.api_url(), &other.access).status, 200);

    let no_token = post_form(
        &emu.revoke_url(),
        &[
            ("client_id", &c.client_id),
            ("client_secret", &c.client_secret),
        ],
    );
    assert_eq!(no_token.status, 400);
    assert_eq!(no_token.json()["hint"], "Check the `token` parameter");
    assert_eq!(emu.counters().rfc7009_revocations, 3);
}

#[test]
fn logout_revokes_the_pair_with_204_and_rejects_bad_tokens() {
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let pair = login(&emu);
    let seen = post_bearer(&emu.logout_url(), &pair.access);
    assert_eq!((seen.status, seen.body.as_str()), (204, ""));
    assert_eq!(get_bearer(&emu.api_url(), &pair.access).status, 401);
    assert_eq!(refresh_raw(&emu, &pair.refresh).status, 401);

    let again = post_bearer(&emu.logout_url(), &pair.access);
    assert_eq!(again.status, 401);
    assert_eq!(again.body, r#"{"message":"Unauthenticated."}"#);
    // A refresh token is not an access token.
    let other = login(&emu);
    assert_eq!(post_bearer(&emu.logout_url(), &other.refresh).status, 401);
    assert_eq!(emu.counters().logouts, 1);
}
