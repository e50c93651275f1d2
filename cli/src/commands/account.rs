//! signup, login, logout, whoami.

use std::io::{IsTerminal, Read};

use gofast_proto::v1 as pb;
use serde_json::json;

use crate::{
    args::{Credentials, Output},
    client::Client,
    credentials::{self, Saved},
    error::{CliError, CliResult},
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

pub fn logout(server: &str) -> CliResult {
    let server = server.trim_end_matches('/');
    if credentials::forget(server)? {
        eprintln!("Logged out of {server}.");
    } else {
        eprintln!("You were not logged in to {server}.");
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
