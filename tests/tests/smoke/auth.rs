//! The README's auth flow, as a client runs it through the stack: sign up, log in with a form,
//! read `/me`, refresh, log out, and the token is refused.

use http::Method;
use serde_json::json;

use crate::Smoke;

/// The password of the users made here.
const PASSWORD: &str = "correct horse battery staple";

/// A fresh user taken through the README's first steps (signup, a form login, `/me`, a refresh),
/// each checked; its refreshed access token.
pub(crate) async fn readme_user(s: &Smoke) -> String {
    let user = format!("smoke_{}", e2e::unique());
    let signup = s
        .http
        .json(
            Method::POST,
            &s.api("/auth/signup"),
            &[],
            &json!({"username": user, "email": format!("{user}@example.com"), "password": PASSWORD,
                    "first_name": "Smoke", "last_name": "Test"}),
        )
        .await;
    assert_eq!(signup.status, 201, "signup: {}", signup.text());

    // As `curl -d` sends it: a form, the value as typed.
    let login = s
        .http
        .send(
            Method::POST,
            &s.api("/auth/login"),
            &[("content-type", "application/x-www-form-urlencoded")],
            format!("username={user}&password={PASSWORD}"),
        )
        .await;
    assert_eq!(login.status, 200, "login (form): {}", login.text());
    let tokens = login.json();
    let access = tokens["access_token"].as_str().expect("access_token");
    let refresh = tokens["refresh_token"].as_str().expect("refresh_token");

    let bearer = format!("Bearer {access}");
    let me = s
        .http
        .get(&s.api("/users/me"), &[("authorization", bearer.as_str())])
        .await;
    assert_eq!(me.status, 200, "users/me: {}", me.text());

    let refreshed = s
        .http
        .json(
            Method::POST,
            &s.api("/auth/refresh"),
            &[],
            &json!({ "refresh_token": refresh }),
        )
        .await;
    assert_eq!(refreshed.status, 200, "refresh: {}", refreshed.text());
    refreshed.json()["access_token"]
        .as_str()
        .expect("refreshed access_token")
        .to_owned()
}

/// The whole flow: after logout, the token it ended is refused.
pub(crate) async fn the_readme_auth_flow_ends_with_a_revoked_token(s: Smoke) {
    let access = readme_user(&s).await;
    let bearer = format!("Bearer {access}");

    let logout = s
        .http
        .send(
            Method::POST,
            &s.api("/auth/logout"),
            &[("authorization", bearer.as_str())],
            "",
        )
        .await;
    let after = s
        .http
        .get(&s.api("/users/me"), &[("authorization", bearer.as_str())])
        .await;

    assert_eq!(logout.status, 200, "logout: {}", logout.text());
    assert_eq!(after.status, 401, "revoked token: {}", after.text());
}
