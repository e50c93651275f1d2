//! signup, login, logout, password, whoami.

use std::io::{IsTerminal, Read};

use gofast_proto::v1 as pb;
use serde_json::json;

use tonic::metadata::MetadataValue;

use crate::{
    args::{Credentials, Output, PasswordArgs},
    client::Client,
    credentials::{self, Saved},
    error::{CliError, CliResult, Exit, LocalCode},
    output::print_json,
};

fn read_password(args: &Credentials) -> CliResult<String> {
    if args.password_stdin {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| CliError::usage(format!("cannot read the password from stdin: {e}")))?;
        return Ok(s.trim_end_matches(['\n', '\r']).to_string());
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::usage("no terminal to ask for a password")
            .hint("pipe it in with --password-stdin"));
    }
    rpassword::prompt_password("Password: ")
        .map_err(|e| CliError::usage(format!("cannot read the password: {e}")))
}

async fn login_with(
    client: &mut Client,
    email: &str,
    password: String,
) -> CliResult<pb::LoginResponse> {
    let resp = client
        .auth
        .login(pb::LoginRequest {
            email: email.to_string(),
            password,
        })
        .await
        .map_err(|s| client.fail(s))?
        .into_inner();
    let email = resp
        .user
        .as_ref()
        .map(|u| u.email.clone())
        .unwrap_or_else(|| email.to_string());
    credentials::save(
        &client.server,
        Saved {
            email,
            access_token: resp.access_token.clone(),
        },
    )?;
    Ok(resp)
}

pub async fn signup(server: &str, output: Output, args: Credentials) -> CliResult {
    let password = read_password(&args)?;
    let mut client = Client::anonymous(server).await?;
    client
        .auth
        .signup(pb::SignupRequest {
            email: args.email.clone(),
            password: password.clone(),
        })
        .await
        .map_err(|s| client.fail(s))?;
    let resp = login_with(&mut client, &args.email, password).await?;
    report_login(output, &resp, "Account created; you are logged in")
}

pub async fn login(server: &str, output: Output, args: Credentials) -> CliResult {
    let password = read_password(&args)?;
    let mut client = Client::anonymous(server).await?;
    let resp = login_with(&mut client, &args.email, password).await?;
    report_login(output, &resp, "Logged in")
}

fn report_login(output: Output, resp: &pb::LoginResponse, what: &str) -> CliResult {
    let user = resp.user.clone().unwrap_or_default();
    match output {
        Output::Json => print_json(&json!({
            "user_id": user.user_id,
            "email": user.email,
            "expires_at": crate::output::rfc3339(resp.expires_at.as_ref()),
        })),
        Output::Text => eprintln!("{what} as {}.", user.email),
    }
    Ok(())
}

/// Ends the saved login's session on the server, then forgets its token.
/// The token is forgotten even when the server cannot be reached, and the
/// error says that the session lives on until it expires.
pub async fn logout(server: &str, output: Output) -> CliResult {
    let server = server.trim_end_matches('/');
    let Some(saved) = credentials::load(server)? else {
        match output {
            Output::Json => print_json(&json!({ "server": server, "was_logged_in": false })),
            Output::Text => eprintln!("You were not logged in to {server}."),
        }
        return Ok(());
    };
    let ended = end_session(server, &saved.access_token).await;
    credentials::forget(server)?;
    match ended {
        Ok(()) => {
            match output {
                Output::Json => print_json(&json!({ "server": server, "was_logged_in": true })),
                Output::Text => {
                    eprintln!("Logged out of {server}; the session has ended on the server.")
                }
            }
            Ok(())
        }
        Err(e) => Err(CliError::new(
            e.exit,
            e.code,
            format!(
                "forgot the saved login, but could not end its session on the server: {}",
                e.message
            ),
        )
        .hint("the old token stays valid until it expires; to end it, log in and out again once the server is reachable, or change your password")),
    }
}

async fn end_session(server: &str, token: &str) -> CliResult {
    let mut client = Client::anonymous(server).await?;
    let mut req = tonic::Request::new(pb::LogoutRequest {});
    let value = MetadataValue::try_from(format!("Bearer {token}")).map_err(|_| {
        CliError::new(
            Exit::Rejected,
            LocalCode::Local,
            "the saved token is malformed",
        )
        .hint("log in again")
    })?;
    req.metadata_mut().insert("authorization", value);
    match client.auth.logout(req).await {
        Ok(_) => Ok(()),
        // Expired, or ended already (another logout, a password change).
        Err(s) if s.code() == tonic::Code::Unauthenticated => Ok(()),
        Err(s) => Err(client.fail(s)),
    }
}

/// Reads the current and the new password: two lines from stdin, or three
/// prompts (the new one twice) on a terminal.
fn read_password_change(args: &PasswordArgs) -> CliResult<(String, String)> {
    if args.password_stdin {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| CliError::usage(format!("cannot read the passwords from stdin: {e}")))?;
        let mut lines = s.lines().map(|l| l.trim_end_matches('\r').to_string());
        return match (lines.next(), lines.next()) {
            (Some(current), Some(new)) if !new.is_empty() => Ok((current, new)),
            _ => Err(CliError::usage(
                "--password-stdin takes two lines: the current password, then the new one",
            )),
        };
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::usage("no terminal to ask for passwords").hint(
            "pipe the current and the new password in, one per line, with --password-stdin",
        ));
    }
    let prompt = |p: &str| {
        rpassword::prompt_password(p)
            .map_err(|e| CliError::usage(format!("cannot read the password: {e}")))
    };
    let current = prompt("Current password: ")?;
    let new = prompt("New password: ")?;
    if prompt("New password again: ")? != new {
        return Err(CliError::usage(
            "the two new passwords differ; nothing was changed",
        ));
    }
    Ok((current, new))
}

pub async fn change_password(server: &str, output: Output, args: PasswordArgs) -> CliResult {
    let (current_password, new_password) = read_password_change(&args)?;
    let mut client = Client::authenticated(server).await?;
    let req = client.req(pb::ChangePasswordRequest {
        current_password,
        new_password,
        revoke_api_tokens: args.revoke_tokens,
    });
    let resp = client
        .auth
        .change_password(req)
        .await
        .map_err(|s| client.fail(s))?
        .into_inner();
    match output {
        Output::Json => print_json(&json!({
            "sessions_ended": resp.sessions_ended,
            "api_tokens_revoked": resp.api_tokens_revoked,
        })),
        Output::Text => {
            eprintln!(
                "Password changed; {} other session(s) ended, this one stays logged in.",
                resp.sessions_ended
            );
            if args.revoke_tokens {
                eprintln!("{} API token(s) revoked.", resp.api_tokens_revoked);
            } else {
                eprintln!(
                    "API tokens keep working: see `gofast token list`, or change it again with --revoke-tokens."
                );
            }
        }
    }
    Ok(())
}

pub async fn whoami(server: &str, output: Output) -> CliResult {
    let mut client = Client::authenticated(server).await?;
    let req = client.req(pb::MeRequest {});
    let user = client
        .auth
        .me(req)
        .await
        .map_err(|s| client.fail(s))?
        .into_inner()
        .user
        .unwrap_or_default();
    match output {
        Output::Json => print_json(&json!({ "user_id": user.user_id, "email": user.email })),
        Output::Text => println!("{} ({})", user.email, user.user_id),
    }
    Ok(())
}
