//! Mail through SES v2: every message has a text and an HTML part, rendered from the templates
//! in `shared/identity/templates/` (compiled in). HTML templates auto-escape, so user-supplied values
//! (names) cannot inject markup.

use std::{sync::Arc, time::Duration};

use anyhow::Context as _;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use minijinja::Environment;
use serde::Serialize;
use shared::config::{ConfigError, Env};

/// The mails this project sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    /// Confirm an address after signup (or on resend).
    VerifyEmail,
    /// A password reset link.
    PasswordReset,
    /// Notice after a password change.
    PasswordChanged,
    /// Notice after a login with a recovery code (`changed_at`: when).
    RecoveryCodeUsed,
}

impl MailKind {
    fn template(self) -> &'static str {
        match self {
            MailKind::VerifyEmail => "verify_email",
            MailKind::PasswordReset => "password_reset",
            MailKind::PasswordChanged => "password_changed",
            MailKind::RecoveryCodeUsed => "recovery_code_used",
        }
    }

    fn subject(self, app: &str) -> String {
        match self {
            MailKind::VerifyEmail => format!("Confirm your email for {app}"),
            MailKind::PasswordReset => format!("Reset your {app} password"),
            MailKind::PasswordChanged => format!("Your {app} password was changed"),
            MailKind::RecoveryCodeUsed => format!("A recovery code of your {app} account was used"),
        }
    }
}

/// Values a template may use. Everything here that came from a user is escaped in HTML.
#[derive(Debug, Serialize)]
pub struct MailContext<'a> {
    /// Recipient's first name.
    pub first_name: &'a str,
    /// The action link, built from `PUBLIC_APP_URL`.
    pub link: &'a str,
    /// Human-readable lifetime of the link ("15 minutes").
    pub expires_in: String,
    /// When it happened (password changed).
    pub changed_at: &'a str,
}

/// A rendered mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// Subject line.
    pub subject: String,
    /// Plain-text part.
    pub text: String,
    /// HTML part.
    pub html: String,
}

#[derive(Debug, Serialize)]
struct Full<'a> {
    app_name: &'a str,
    #[serde(flatten)]
    inner: &'a MailContext<'a>,
}

/// Renders templates and sends through SES. Cheap to clone.
#[derive(Clone)]
pub struct Mailer {
    ses: aws_sdk_sesv2::Client,
    from: String,
    configuration_set: Option<String>,
    app_name: String,
    templates: Arc<Environment<'static>>,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from)
            .field("configuration_set", &self.configuration_set)
            .finish_non_exhaustive()
    }
}

/// The compiled-in templates, loaded once.
pub fn templates() -> anyhow::Result<Environment<'static>> {
    let mut env = Environment::new();
    for (name, source) in [
        ("base.html", include_str!("../templates/base.html")),
        (
            "verify_email.html",
            include_str!("../templates/verify_email.html"),
        ),
        (
            "verify_email.txt",
            include_str!("../templates/verify_email.txt"),
        ),
        (
            "password_reset.html",
            include_str!("../templates/password_reset.html"),
        ),
        (
            "password_reset.txt",
            include_str!("../templates/password_reset.txt"),
        ),
        (
            "password_changed.html",
            include_str!("../templates/password_changed.html"),
        ),
        (
            "password_changed.txt",
            include_str!("../templates/password_changed.txt"),
        ),
        (
            "recovery_code_used.html",
            include_str!("../templates/recovery_code_used.html"),
        ),
        (
            "recovery_code_used.txt",
            include_str!("../templates/recovery_code_used.txt"),
        ),
    ] {
        env.add_template(name, source)
            .with_context(|| format!("template {name}"))?;
    }
    Ok(env)
}

/// "15 minutes", "24 hours", "7 days".
pub fn human_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let (n, unit) = if secs.is_multiple_of(86_400) && secs >= 86_400 {
        (secs / 86_400, "day")
    } else if secs.is_multiple_of(3_600) && secs >= 3_600 {
        (secs / 3_600, "hour")
    } else if secs >= 60 {
        (secs / 60, "minute")
    } else {
        (secs, "second")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

impl Mailer {
    /// A mailer from `MAIL_FROM` (required), `APP_NAME` and `MAIL_CONFIGURATION_SET`.
    pub fn from_env(ses: aws_sdk_sesv2::Client, env: &Env) -> anyhow::Result<Self> {
        let from = env.required("MAIL_FROM")?;
        if !from.contains('@') {
            return Err(ConfigError::new("MAIL_FROM", "must be an email address").into());
        }
        Self::new(
            ses,
            from,
            env.string("MAIL_CONFIGURATION_SET"),
            env.string_or("APP_NAME", "Rust Serverless Starter"),
        )
    }

    /// A mailer sending as `from`, optionally through a configuration set.
    pub fn new(
        ses: aws_sdk_sesv2::Client,
        from: String,
        configuration_set: Option<String>,
        app_name: String,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            ses,
            from,
            configuration_set,
            app_name,
            templates: Arc::new(templates()?),
        })
    }

    /// Renders `kind` for `ctx`.
    pub fn render(&self, kind: MailKind, ctx: &MailContext<'_>) -> anyhow::Result<Rendered> {
        render_with(&self.templates, &self.app_name, kind, ctx)
    }

    /// Renders and sends; the error is for the caller to log (mail failures never change an API
    /// answer).
    pub async fn send(
        &self,
        to: &str,
        kind: MailKind,
        ctx: &MailContext<'_>,
    ) -> anyhow::Result<()> {
        let mail = self.render(kind, ctx)?;
        let content = |text: String| {
            Content::builder()
                .data(text)
                .charset("UTF-8")
                .build()
                .context("building mail content")
        };
        let message = Message::builder()
            .subject(content(mail.subject)?)
            .body(
                Body::builder()
                    .text(content(mail.text)?)
                    .html(content(mail.html)?)
                    .build(),
            )
            .build();
        self.ses
            .send_email()
            .from_email_address(&self.from)
            .destination(Destination::builder().to_addresses(to).build())
            .content(EmailContent::builder().simple(message).build())
            .set_configuration_set_name(self.configuration_set.clone())
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!("SES SendEmail: {}", shared::error::DisplayErrorContext(e))
            })?;
        Ok(())
    }
}

/// Rendering without a client, for tests and previews.
pub fn render_with(
    env: &Environment<'_>,
    app_name: &str,
    kind: MailKind,
    ctx: &MailContext<'_>,
) -> anyhow::Result<Rendered> {
    let full = Full {
        app_name,
        inner: ctx,
    };
    let name = kind.template();
    let text = env
        .get_template(&format!("{name}.txt"))?
        .render(&full)
        .context("rendering text part")?;
    let html = env
        .get_template(&format!("{name}.html"))?
        .render(&full)
        .context("rendering HTML part")?;
    Ok(Rendered {
        subject: kind.subject(app_name),
        text,
        html,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx<'a>(first_name: &'a str, link: &'a str) -> MailContext<'a> {
        MailContext {
            first_name,
            link,
            expires_in: human_duration(Duration::from_secs(900)),
            changed_at: "2026-01-01T00:00:00Z",
        }
    }

    #[test]
    fn every_mail_has_a_text_and_an_html_part_with_the_link() {
        let env = templates().unwrap();
        for kind in [
            MailKind::VerifyEmail,
            MailKind::PasswordReset,
            MailKind::PasswordChanged,
            MailKind::RecoveryCodeUsed,
        ] {
            let mail = render_with(
                &env,
                "Starter",
                kind,
                &ctx("Ada", "https://app.example.com/x?token=abc"),
            )
            .unwrap();
            assert!(
                mail.text.contains("https://app.example.com/x?token=abc"),
                "{kind:?}"
            );
            // HTML escapes '/' as &#x2f; (harmless in href); the token itself survives intact.
            assert!(mail.html.contains("token=abc"), "{kind:?}");
            assert!(mail.html.contains("<html"), "{kind:?}");
            assert!(!mail.text.contains("<p>"), "{kind:?}");
            assert!(mail.subject.contains("Starter"));
        }
    }

    #[test]
    fn user_values_are_escaped_in_html() {
        let env = templates().unwrap();
        let mail = render_with(
            &env,
            "Starter",
            MailKind::PasswordReset,
            &ctx("<script>alert(1)</script>", "https://a.example/r"),
        )
        .unwrap();
        assert!(!mail.html.contains("<script>"));
        assert!(mail.html.contains("&lt;script&gt;"));
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(Duration::from_secs(900)), "15 minutes");
        assert_eq!(human_duration(Duration::from_secs(86_400)), "1 day");
        assert_eq!(human_duration(Duration::from_secs(7_200)), "2 hours");
    }
}
